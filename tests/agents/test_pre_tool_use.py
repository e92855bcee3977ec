"""The rendered PreToolUse hook, run by the real perl on the JSON Claude Code sends it
(https://code.claude.com/docs/en/hooks): a denial is exit 0 with hookSpecificOutput on stdout;
anything else is exit 0 and no output, so Claude Code's own permission flow goes on."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agents.agents_helpers import (
    BYPASS_CORPUS,
    HARMLESS_BYPASS_CORPUS,
    HEAVY_CORPUS,
    PLAIN_CORPUS,
)
from conftest import run_buildkit

REAL_CARGO = shutil.which("cargo") or "/nonexistent/cargo"
HOOK = ".config/buildkit/hooks/claude-pre-tool-use.pl"


def _fill(line: str) -> str:
    return line.format(real_cargo=REAL_CARGO, real_cargo_dir=str(Path(REAL_CARGO).parent))


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One repository with the shim on, one with it off (the hook is the only guard there)."""
    out = {}
    for name, profile in (
        ("on", "version: 1\n"),
        ("off", "version: 1\nagents:\n  shim_cargo: false\n"),
    ):
        root = tmp_path_factory.mktemp(f"shim-{name}")
        (root / "Cargo.toml").write_text('[package]\nname = "p"\nversion = "0.1.0"\n')
        (root / "src").mkdir()
        (root / "src/lib.rs").write_text("")
        (root / "buildkit.yaml").write_text(profile)
        ran = run_buildkit("init", root)
        assert ran.exit_code == 0, ran.stdout + ran.stderr
        out[name] = root
    return out


def hook(root: Path, payload: Any, raw: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run the hook the way the settings entry does: perl, the script, JSON on stdin, compact
    as Claude Code (a Node program: JSON.stringify) writes it."""
    return subprocess.run(
        ["perl", str(root / HOOK)],
        input=raw if raw is not None else json.dumps(payload, separators=(",", ":")),
        capture_output=True,
        text=True,
        cwd=root,
        env={"PATH": "/usr/bin:/bin", "CLAUDE_PROJECT_DIR": str(root)},
        timeout=10,
    )


def bash_event(root: Path, command: str) -> dict[str, Any]:
    """PreToolUse input as the hooks reference documents it for the Bash tool."""
    return {
        "session_id": "abc123",
        "transcript_path": str(root / "transcript.jsonl"),
        "cwd": str(root),
        "permission_mode": "default",
        "hook_event_name": "PreToolUse",
        "tool_name": "Bash",
        "tool_input": {"command": command, "description": "run it", "timeout": 120000},
        "tool_use_id": "toolu_01ABC123",
    }


def assert_allowed(ran: subprocess.CompletedProcess[str], line: str) -> None:
    assert (ran.returncode, ran.stdout, ran.stderr) == (0, "", ""), line


def assert_denied(ran: subprocess.CompletedProcess[str], line: str, cq: str = "scripts/cq") -> None:
    assert ran.returncode == 0 and ran.stderr == "", (line, ran.stderr)
    answer = json.loads(ran.stdout)
    assert set(answer) == {"hookSpecificOutput"}, line
    out = answer["hookSpecificOutput"]
    assert set(out) == {"hookEventName", "permissionDecision", "permissionDecisionReason"}
    assert out["hookEventName"] == "PreToolUse" and out["permissionDecision"] == "deny", line
    assert f"`{cq} " in out["permissionDecisionReason"], out


@pytest.mark.parametrize("line", [c for c, _ in HEAVY_CORPUS] + PLAIN_CORPUS)
def test_corpus_lines_are_allowed_when_the_shim_is_on(rendered: dict[str, Path], line: str) -> None:
    assert_allowed(hook(rendered["on"], bash_event(rendered["on"], line)), line)


@pytest.mark.parametrize("line", BYPASS_CORPUS)
def test_heavy_lines_that_bypass_the_shim_are_denied(rendered: dict[str, Path], line: str) -> None:
    for root in rendered.values():
        assert_denied(hook(root, bash_event(root, _fill(line))), line)


@pytest.mark.parametrize("line", HARMLESS_BYPASS_CORPUS)
def test_bypass_forms_of_light_commands_are_allowed(rendered: dict[str, Path], line: str) -> None:
    assert_allowed(hook(rendered["on"], bash_event(rendered["on"], _fill(line))), line)


# What the hook cannot see: a subcommand that xargs reads from stdin, a Makefile's recipe.
UNSEEN = ("scripts/cq", "make ", "| xargs")


@pytest.mark.parametrize("line", [c for c, _ in HEAVY_CORPUS if not any(u in c for u in UNSEEN)])
def test_with_the_shim_off_every_heavy_cargo_line_is_denied(
    rendered: dict[str, Path], line: str
) -> None:
    assert_denied(hook(rendered["off"], bash_event(rendered["off"], line)), line)


def test_reason_names_the_profiles_cq_path(tmp_path: Path) -> None:
    (tmp_path / "buildkit.yaml").write_text("version: 1\ncq:\n  path: tools/queue\n")
    (tmp_path / "Cargo.toml").write_text('[package]\nname = "p"\nversion = "0.1.0"\n')
    (tmp_path / "src").mkdir()
    (tmp_path / "src/lib.rs").write_text("")
    assert run_buildkit("init", tmp_path).exit_code == 0
    ran = hook(tmp_path, bash_event(tmp_path, "env -i cargo test --workspace"))
    assert_denied(ran, "env -i", cq="tools/queue")
    assert (
        "`tools/queue test …`"
        in json.loads(ran.stdout)["hookSpecificOutput"]["permissionDecisionReason"]
    )


def test_other_tools_and_unicode_pass_and_bad_input_is_a_non_blocking_error(
    rendered: dict[str, Path],
) -> None:
    root = rendered["on"]
    edit = {
        **bash_event(root, ""),
        "tool_name": "Write",
        "tool_input": {"file_path": "/x", "content": "env -i cargo test"},
    }
    assert_allowed(hook(root, edit), "Write")
    escaped = hook(root, None, raw=json.dumps(bash_event(root, "echo 'é ✓' && env -i cargo test")))
    assert_denied(escaped, "escaped unicode")
    literal = hook(
        root,
        None,
        raw=json.dumps(bash_event(root, "echo 'é ✓'; env -i cargo b"), ensure_ascii=False),
    )
    assert_denied(literal, "literal unicode")
    bad = hook(root, None, raw='{"tool_name": "Bash", "tool_input": {"command": ')
    assert bad.returncode == 1 and bad.stdout == ""
    assert bad.stderr.startswith("buildkit's PreToolUse hook: cannot read the hook input")


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    command=st.text(
        alphabet=st.sampled_from(list("cargo test env -i \\'\"$()`;|&<>{}#\n\t=/~xé")), max_size=60
    )
)
def test_any_command_text_gets_a_well_formed_answer(
    rendered: dict[str, Path], command: str
) -> None:
    """Whatever the agent typed (unbalanced quotes, stray operators): exit 0, no stderr, and
    either no output or exactly one well-formed denial."""
    root = rendered["off"]
    ran = hook(root, bash_event(root, command))
    assert ran.returncode == 0 and ran.stderr == "", (command, ran.stderr)
    if ran.stdout:
        assert_denied(ran, command)


@pytest.mark.parametrize(
    "separators", [(",", ":"), (", ", ": "), (",\n", " :\t")], ids=["compact", "spaced", "odd"]
)
def test_the_hooks_json_reader_takes_any_whitespace(
    rendered: dict[str, Path], separators: tuple[str, str]
) -> None:
    root = rendered["on"]
    raw = json.dumps(bash_event(root, "env -i cargo test"), separators=separators, indent=None)
    denied = hook(root, None, raw=raw)
    assert denied.returncode == 0, denied.stderr
    assert json.loads(denied.stdout)["hookSpecificOutput"]["permissionDecision"] == "deny"


# The hook answers any input by a cut-off (size and depth limits, then a 0.7 s timer in the
# hook), so "within 1 s" is a correctness bound: the agent's hook timeout must never be near.
HOOK_ANSWERS_WITHIN = 1.0


def _timed(root: Path, raw: bytes) -> tuple[float, subprocess.CompletedProcess[bytes]]:
    started = time.monotonic()
    ran = subprocess.run(["perl", str(root / HOOK)], input=raw, capture_output=True, cwd=root)
    return time.monotonic() - started, ran


def _bash(command: str) -> bytes:
    payload = {"tool_name": "Bash", "tool_input": {"command": command}, "cwd": "."}
    return json.dumps(payload, separators=(",", ":")).encode()


@pytest.mark.parametrize(
    "name",
    ["30 KB of nested $(", "10 MB command", "not JSON", "40 levels of eval", "deep JSON"],
)
def test_the_hook_answers_any_input_within_a_second(rendered: dict[str, Path], name: str) -> None:
    raw = {
        "30 KB of nested $(": _bash("$(" * 10240 + "cargo test" + ")" * 10240),
        "10 MB command": _bash("cargo test " + "x" * (10 * 1024 * 1024)),
        "not JSON": b"{{{ this is not JSON " * 1000,
        "40 levels of eval": _bash("eval " * 40 + "cargo test"),
        "deep JSON": b'{"tool_name":"Bash","tool_input":' + b"[" * 30000 + b"]" * 30000 + b"}",
    }[name]
    if name == "30 KB of nested $(":
        assert len(raw) >= 30 * 1024
    elapsed, ran = _timed(rendered["off"], raw)
    assert elapsed < HOOK_ANSWERS_WITHIN, f"{name}: answered after {elapsed:.2f}s"
    assert ran.stdout == b"", "past a limit the hook decides nothing"
    assert ran.returncode in (0, 1)  # 1: unreadable input, a non-blocking error
    assert len(ran.stderr.decode().strip().splitlines()) == 1, ran.stderr


def test_within_the_limits_the_hook_still_denies(rendered: dict[str, Path]) -> None:
    """The limits are not a way around the advice: nested just under them, it still reads."""
    elapsed, ran = _timed(rendered["off"], _bash("$(" * 10 + "cargo test" + ")" * 10))
    assert elapsed < HOOK_ANSWERS_WITHIN
    assert b'"permissionDecision":"deny"' in ran.stdout, ran.stderr


def test_the_hook_answers_by_its_cut_off_when_the_input_never_ends(
    rendered: dict[str, Path],
) -> None:
    """The timer, not speed: the input's writer never closes it, and the hook still answers."""
    started = time.monotonic()
    proc = subprocess.Popen(
        ["perl", str(rendered["off"] / HOOK)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdin is not None
    proc.stdin.write(b'{"tool_name":"Bash","tool_input":{"command":"cargo t')
    proc.stdin.flush()
    try:
        proc.wait(timeout=HOOK_ANSWERS_WITHIN)
    finally:
        elapsed = time.monotonic() - started
        proc.kill()
        out, err = proc.communicate()
        proc.stdin.close()
    assert elapsed < HOOK_ANSWERS_WITHIN and proc.returncode == 0
    assert out == b"" and b"too long" in err, err
