"""Codex's PreToolUse hook, as Codex runs it: the command from the rendered .codex/hooks.json
through a real shell in the repository, the JSON Codex sends on stdin (compact, the fields of
https://developers.openai.com/codex/hooks), the answer read as Codex reads it."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from agents.agents_helpers import clean_env
from agents.conftest import REAL_CARGO_DIR, shim_path


def _codex_command(repo: Path) -> str:
    data = json.loads((repo / ".codex/hooks.json").read_text())
    (group,) = data["hooks"]["PreToolUse"]
    assert group["matcher"] == "Bash"
    (hook,) = group["hooks"]
    assert hook["type"] == "command"
    command: str = hook["command"]
    return command


def _ask(repo: Path, command: str, path: str) -> dict[str, Any] | None:
    payload = {
        "session_id": "s1",
        "turn_id": "t1",
        "transcript_path": "/tmp/t.jsonl",
        "cwd": str(repo),
        "hook_event_name": "PreToolUse",
        "model": "gpt-5",
        "permission_mode": "default",
        "tool_name": "Bash",
        "tool_input": {"command": command},
        "tool_use_id": "call_1",
    }
    ran = subprocess.run(
        ["sh", "-c", _codex_command(repo)],
        input=json.dumps(payload, separators=(",", ":")),
        capture_output=True,
        text=True,
        cwd=repo,
        env=clean_env(Path("/unused"), PATH=path),
        check=False,
    )
    assert ran.returncode == 0 and ran.stderr == "", ran.stderr
    if not ran.stdout:
        return None
    answer: dict[str, Any] = json.loads(ran.stdout)["hookSpecificOutput"]
    assert answer["hookEventName"] == "PreToolUse"
    return answer


PLAIN = ":".join([REAL_CARGO_DIR, "/usr/local/bin", "/usr/bin", "/bin"])


@pytest.mark.parametrize(
    ("command", "with_shim", "denied"),
    [
        ("cargo test", False, True),  # no session env file: the shim is not on PATH
        ("cd sub && cargo clippy --all-targets", False, True),
        ("cargo test", True, False),  # a direnv shell: the shim is first
        ("env -i cargo build", True, True),  # a bypass, as for Claude Code
        ("cargo fmt --check", False, False),
        ("scripts/cq test", False, False),
    ],
)
def test_codex_hook_denies_what_would_bypass_the_queue(
    agents_repo: list[Path], command: str, with_shim: bool, denied: bool
) -> None:
    repo = agents_repo[0]
    path = shim_path(repo) if with_shim else PLAIN
    answer = _ask(repo, command, path)
    if not denied:
        assert answer is None
        return
    assert answer is not None and answer["permissionDecision"] == "deny"
    assert "scripts/cq" in answer["permissionDecisionReason"]
    if not with_shim:
        assert "not first on PATH" in answer["permissionDecisionReason"]


def test_codex_hook_in_a_linked_worktree_runs_that_worktrees_script(
    agents_repo: list[Path],
) -> None:
    """`git rev-parse --show-toplevel` is the worktree Codex works in, not the main one."""
    worktree = agents_repo[1]
    answer = _ask(worktree, "cargo test", PLAIN)
    assert answer is not None and answer["permissionDecision"] == "deny"
    assert _ask(worktree, "cargo test", shim_path(worktree)) is None
