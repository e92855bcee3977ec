"""`buildkit provision` gives a laptop the agent parts for every repository: the cargo shim
first on PATH in login shells, and buildkit's Claude Code hooks merged into the user's
~/.claude/settings.json. The real ansible-playbook, run twice on a temporary HOME."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

from agents.test_claude_settings import USER_SETTINGS, _without_buildkit
from conftest import HOLD_THE_QUEUE
from machine.machine_helpers import (
    link_real_hakari,
    make_home,
    provision,
    user_env,
    write_profile,
)

# What rustup writes to ~/.cargo/env (its shell setup), byte for byte in substance.
RUSTUP_ENV = """#!/bin/sh
# rustup shell setup
# affix colons on either side of $PATH to simplify matching
case ":${PATH}:" in
    *:"$HOME/.cargo/bin":*)
        ;;
    *)
        # Prepending path in case a system-installed rustc needs to be overridden
        export PATH="$HOME/.cargo/bin:$PATH"
        ;;
esac
"""


def test_provision_installs_the_shim_and_merges_the_user_level_hooks(
    tmp_path: Path, example: Path
) -> None:
    home = make_home(tmp_path)
    link_real_hakari(home)
    repo = write_profile(example)
    settings = home / ".claude/settings.json"
    settings.parent.mkdir()
    original = json.dumps(USER_SETTINGS, indent=2, ensure_ascii=False) + "\n"
    settings.write_text(original)

    first, recap = provision(repo, home)
    assert first.returncode == 0 and recap.failed == 0, first.stdout + first.stderr
    merged_text = settings.read_text()
    second, recap = provision(repo, home)
    assert second.returncode == 0 and recap.changed == 0, second.stdout
    assert settings.read_text() == merged_text

    merged = json.loads(merged_text)
    assert json.dumps(_without_buildkit(merged), indent=2, ensure_ascii=False) + "\n" == original
    hooks_dir = home / ".config/buildkit/hooks"
    (start,) = [g for g in merged["hooks"]["SessionStart"] if "buildkit" in json.dumps(g)]
    (pre,) = [g for g in merged["hooks"]["PreToolUse"] if g.get("matcher") == "Bash"]
    shim = home / ".local/share/buildkit/bin/cargo"

    # rustup's installer adds `. "$HOME/.cargo/env"` to the rc files after buildkit's block; its
    # env script prepends ~/.cargo/bin only when missing, and the block already put it behind
    # the shim, so the shim stays first.
    (home / ".cargo/bin/cargo").symlink_to(shutil.which("cargo") or "cargo")
    (home / ".cargo/env").write_text(RUSTUP_ENV)
    for rc in (".profile", ".bashrc"):
        with (home / rc).open("a") as handle:
            handle.write('. "$HOME/.cargo/env"\n')

    # A login shell finds the shim first; with the queue held, its cargo build waits (and
    # gives up after CQ_WAIT_TIMEOUT) while cargo metadata runs at once.
    env = {**user_env(home), "CQ_STATE_DIR": str(tmp_path / "cq-state")}
    (tmp_path / "cq-state").mkdir(mode=0o700)
    login = subprocess.run(
        ["bash", "-lc", "command -v cargo; command -v cq"],
        env=env,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
    )
    assert login.stdout.splitlines() == [str(shim), str(home / ".local/bin/cq")], login.stderr
    held = subprocess.run(
        [
            "bash",
            "-lc",
            HOLD_THE_QUEUE
            + " cargo metadata --no-deps --format-version 1 >/dev/null && echo metadata-ok;"
            " CQ_WAIT_TIMEOUT=1 cargo build; echo build-rc=$?; cq kill",
        ],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=120,
    )
    assert "metadata-ok" in held.stdout and "build-rc=75" in held.stdout, held.stdout + held.stderr
    assert "gave up after 1s waiting for" in held.stderr

    # The hooks, run by their settings entries as Claude Code runs them (a shell command).
    env_file = tmp_path / "claude-env"
    env_file.write_text("")
    ran = subprocess.run(
        ["sh", "-c", start["hooks"][0]["command"]],
        input="{}",
        capture_output=True,
        text=True,
        env={**env, "CLAUDE_ENV_FILE": str(env_file)},
    )
    assert ran.returncode == 0, ran.stderr
    assert env_file.read_text() == f"export PATH='{shim.parent}':\"$PATH\"\n"
    event = {
        "hook_event_name": "PreToolUse",
        "tool_name": "Bash",
        "cwd": str(repo),
        "tool_input": {"command": "env -i cargo test"},
    }
    denied = subprocess.run(
        ["sh", "-c", pre["hooks"][0]["command"]],
        input=json.dumps(event),
        capture_output=True,
        text=True,
        env=env,
    )
    out = json.loads(denied.stdout)["hookSpecificOutput"]
    assert out["permissionDecision"] == "deny" and "`cq test …`" in out["permissionDecisionReason"]
    assert str(hooks_dir) in pre["hooks"][0]["command"]
