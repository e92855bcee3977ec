"""Run bench/article/run.py as a user would (the buildkit of this venv on PATH, temporary files
under the test's tmp dir) and read where it put its results and kept worktrees."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from conftest import REPO

RUN = REPO / "bench" / "article" / "run.py"


@dataclass(frozen=True)
class ArticleRun:
    stdout: str
    results: Path  # the folder with <side>.json, result.json and table.md
    kept: Path  # the worktrees, kept by --keep; the test removes them


def bench_env(tmp_path: Path) -> dict[str, str]:
    bindir = Path(sys.executable).parent
    return {
        **os.environ,
        "PATH": f"{bindir}{os.pathsep}{os.environ['PATH']}",
        "TMPDIR": str(tmp_path),
    }


def run_article(workspace: Path, *args: str, tmp_path: Path, timeout: int = 600) -> ArticleRun:
    """run.py WORKSPACE ARGS --keep; fails the test (with its output) when it fails."""
    done = subprocess.run(
        [sys.executable, str(RUN), str(workspace), *args, "--keep"],
        cwd=tmp_path,
        env=bench_env(tmp_path),
        capture_output=True,
        text=True,
        check=False,
        timeout=timeout,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    results = re.search(r"^results: (.+)$", done.stdout, re.M)
    kept = re.search(r"^worktrees kept in (.+)$", done.stdout, re.M)
    assert results and kept, done.stdout
    return ArticleRun(done.stdout, Path(results.group(1)), Path(kept.group(1)))
