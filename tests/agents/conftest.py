"""Fixtures for the agents tests: one rendered repository (with two worktrees) built once per
session; each test uses its own queue state."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from agents.agents_helpers import SHIM_DIR, clean_env, make_agents_repo

REAL_CARGO_DIR = str(Path(shutil.which("cargo") or "/nonexistent").parent)


@pytest.fixture(scope="session")
def agents_repo(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """The main checkout and two linked worktrees, each built once without the shim."""
    checkouts = make_agents_repo(tmp_path_factory.mktemp("agents") / "q", worktrees=2)
    env = clean_env(Path("/nonexistent"))
    for checkout in checkouts:
        for args in (["build"], ["test", "--no-run"]):
            subprocess.run(["cargo", *args, "--quiet"], cwd=checkout, env=env, check=True)
    return checkouts


@pytest.fixture
def state(tmp_path: Path) -> Path:
    directory = tmp_path / "cq-state"
    directory.mkdir(mode=0o700)
    return directory


def shim_path(repo: Path, *before: str) -> str:
    """PATH as the .envrc block or the SessionStart hook leaves it: the shim first."""
    return ":".join(
        [*before, str(repo / SHIM_DIR), REAL_CARGO_DIR, "/usr/local/bin", "/usr/bin", "/bin"]
    )
