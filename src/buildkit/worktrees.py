"""`buildkit worktree add/remove`: the rendered worktree script (the one Claude Code's
WorktreeCreate/WorktreeRemove hooks run, docs/agents.md) run by hand, for worktrees made without
Claude Code. The script is the one implementation; this only finds it and runs it."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from buildkit.errors import BadInput, EnvironmentProblem
from buildkit.render.agents import WORKTREE_SCRIPT


def run_script(repo: Path, args: list[str]) -> int:
    """Run `perl worktree.pl ARGS…` in the checkout holding REPO, with this process's stdin,
    stdout and stderr (the script prints the new worktree's path and its own errors, each in
    one line); returns its exit status."""
    if not repo.is_dir():
        raise BadInput(f"{repo}: no such folder")
    if shutil.which("git") is None:
        raise EnvironmentProblem("git is not on PATH; install git")
    if shutil.which("perl") is None:
        raise EnvironmentProblem(
            "perl is not on PATH; install perl (the worktree script's runtime)"
        )
    top = subprocess.run(
        ["git", "-C", str(repo), "rev-parse", "--show-toplevel"],
        capture_output=True,
        text=True,
        check=False,
    )
    if top.returncode != 0:
        raise BadInput(f"{repo}: not in a git checkout")
    checkout = Path(top.stdout.strip())
    script = checkout / WORKTREE_SCRIPT
    if not script.is_file():
        raise BadInput(
            f"{script}: missing; run `buildkit render` (the script is rendered when cq.enabled)"
        )
    return subprocess.run(["perl", str(script), *args], cwd=checkout, check=False).returncode
