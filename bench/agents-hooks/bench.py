"""What the agent parts cost per command, measured side by side in one run.

    .venv/bin/python bench/agents-hooks/bench.py [--runs 31]

Renders a one-crate repository with `buildkit init` in a private temporary directory, then
times interleaved runs of: `cargo metadata` with the real cargo against the same through the
cargo shim (a pass-through: shim + cq's argument check, then cargo); the PreToolUse hook
(perl) on an allowed and on a denied command, fed the JSON Claude Code sends; and the
SessionStart hook. Claude Code waits for the hooks, so their time is added to each command.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def timed(argv: list[str], cwd: Path, env: dict[str, str], stdin: str = "") -> float:
    start = time.perf_counter()
    subprocess.run(argv, cwd=cwd, env=env, input=stdin, capture_output=True, text=True, check=True)
    return (time.perf_counter() - start) * 1000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=31)
    runs = parser.parse_args().runs
    real = shutil.which("cargo")
    if real is None:
        sys.exit("cargo is not on PATH")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "w"
        (root / "src").mkdir(parents=True)
        (root / "Cargo.toml").write_text('[package]\nname = "w"\nversion = "0.1.0"\n')
        (root / "src/lib.rs").write_text("")
        subprocess.run(["git", "init", "-q"], cwd=root, check=True)
        buildkit = [sys.executable, "-m", "buildkit"]
        subprocess.run([*buildkit, "init", str(root)], check=True, capture_output=True)
        state = Path(tmp) / "state"
        state.mkdir(mode=0o700)
        base = f"{Path(real).parent}:/usr/bin:/bin"
        env = {**os.environ, "PATH": base, "CQ_STATE_DIR": str(state)}
        shim_env = {**env, "PATH": f"{root}/.config/buildkit/bin:{base}"}
        env_file = Path(tmp) / "claude-env"
        session_env = {**env, "CLAUDE_ENV_FILE": str(env_file)}
        hook = str(root / ".config/buildkit/hooks/claude-pre-tool-use.pl")

        def event(command: str) -> str:
            return json.dumps(
                {
                    "hook_event_name": "PreToolUse",
                    "tool_name": "Bash",
                    "cwd": str(root),
                    "tool_input": {"command": command},
                }
            )

        metadata = ["cargo", "metadata", "--format-version", "1", "--no-deps"]
        cases = {
            "cargo metadata (real cargo)": lambda: timed(metadata, root, env),
            "cargo metadata (through the shim)": lambda: timed(metadata, root, shim_env),
            "PreToolUse hook, allowed": lambda: timed(
                ["perl", hook], root, env, event("cd crates/a && FOO=1 cargo test 2>&1 | tail")
            ),
            "PreToolUse hook, denied": lambda: timed(
                ["perl", hook], root, env, event('bash -c "env -i cargo test --workspace"')
            ),
            "SessionStart hook": lambda: timed(
                [str(root / ".config/buildkit/hooks/claude-session-start.sh")],
                root,
                session_env,
                "{}",
            ),
        }
        samples: dict[str, list[float]] = {name: [] for name in cases}
        for _ in range(runs):
            for name, case in cases.items():
                samples[name].append(case())
        print("| command | median | min | max |")
        print("| --- | --- | --- | --- |")
        for name, values in samples.items():
            print(
                f"| {name} | {statistics.median(values):.1f} ms | {min(values):.1f} ms "
                f"| {max(values):.1f} ms |"
            )


if __name__ == "__main__":
    main()
