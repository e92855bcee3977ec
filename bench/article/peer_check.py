#!/usr/bin/env python3
"""Does each worktree run its own code? Plain cargo, buildkit and kache, on one workspace.

    python3 bench/article/peer_check.py [--kache PATH] [--buildkit PATH]

On bench/workspaces/embedpath: two worktrees of one commit, the second with another text in a
data file that a proc-macro locates by `CARGO_MANIFEST_DIR` when it expands (rust-embed's debug
mode, sqlx's `migrate!`). Each side runs `cargo test` in the first worktree, then the second,
then the first again, in folders of its own (a private cache for each), and reports which
greeting each run read. A side that shares the workspace's own crates by content serves the
second worktree the first one's compile. Exit 1 when plain cargo or buildkit reads another
worktree's file.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import run  # bench/article/run.py, next to this script

WORKSPACE = Path(__file__).resolve().parent.parent / "workspaces" / "embedpath"
PROFILE = "version: 1\nhakari:\n  enabled: false\nci:\n  enabled: false\n"
TURNS = [("main", "main"), ("twin", "twin"), ("main", "main")]  # (worktree, its greeting)
RUN_SIDES = {"plain": "before", "buildkit": "after", "kache": "kache"}


def git(cwd: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=bench", "-c", "user.email=bench@example.invalid", *args],
        cwd=cwd,
        check=True,
        capture_output=True,
    )


def worktrees(base: Path, side: str, buildkit: str) -> dict[str, Path]:
    main = Path(shutil.copytree(WORKSPACE, base / "repo" / "main"))
    (main / ".gitignore").write_text("/target\n")
    git(main, "init", "-q", "-b", "main")
    if side == "buildkit":
        (main / "buildkit.yaml").write_text(PROFILE)
        subprocess.run(
            [buildkit, "init", "--yes", "--no-probes"], cwd=main, check=True, capture_output=True
        )
    git(main, "add", "-A")
    git(main, "commit", "-qm", "main")
    twin = base / "repo" / "twin"
    git(main, "worktree", "add", "-q", "--detach", str(twin))
    (twin / "app" / "data" / "greeting.txt").write_text("twin\n")
    return {"main": main, "twin": twin}


def greetings(side: str, base: Path, buildkit: str, kache: str | None) -> list[str]:
    """What each turn's test read, in TURNS' order ("failed: ..." when it did not run)."""
    trees = worktrees(base, side, buildkit)
    # run.py's environment of its sides: plain cargo is `before`, buildkit's default `after`
    env = run.side_env(RUN_SIDES[side], trees["main"], base, kache)
    cargo = ["scripts/cq"] if side == "buildkit" else ["cargo"]
    read = []
    for tree, _ in TURNS:
        done = subprocess.run(
            [*cargo, "test", "-q", "-p", "app", "--", "--nocapture"],
            cwd=trees[tree],
            env=env,
            capture_output=True,
            text=True,
        )
        said = [
            w.removeprefix("GREETING=") for w in done.stdout.split() if w.startswith("GREETING=")
        ]
        if done.returncode != 0 or len(said) != 1:
            tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
            read.append(f"failed: {tail}")
        else:
            read.append(said[0])
    return read


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--kache", help="kache's binary (default: kache on PATH; side left out without)"
    )
    parser.add_argument("--buildkit", help="buildkit's command (default: buildkit on PATH)")
    args = parser.parse_args()
    buildkit = args.buildkit or shutil.which("buildkit")
    if buildkit is None:
        parser.error("no `buildkit` on PATH; install it or pass --buildkit PATH")
    kache = args.kache or shutil.which("kache")
    sides = ["plain", "buildkit"] + (["kache"] if kache else [])
    print("| side | " + " | ".join(f"{tree} ({want})" for tree, want in TURNS) + " | own code |")
    print("| --- |" + " --- |" * (len(TURNS) + 1))
    wrong = []
    for side in sides:
        with tempfile.TemporaryDirectory(prefix=f"bk-peer-{side}-") as base:
            read = greetings(side, Path(base), buildkit, kache)
        own = all(got == want for got, (_, want) in zip(read, TURNS, strict=True))
        print(f"| {side} | " + " | ".join(read) + f" | {'yes' if own else 'NO'} |", flush=True)
        if not own and side != "kache":
            wrong.append(side)
    if not kache:
        print("kache: not found (pass --kache PATH to compare it)", file=sys.stderr)
    return 1 if wrong else 0


if __name__ == "__main__":
    sys.exit(main())
