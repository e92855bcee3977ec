"""Fixtures for the cq tests: one prebuilt repository with two linked worktrees (shared by the
session; every test uses its own queue state), the rendered cq, and the shells and PATHs it
must work with."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from cq.cq_helpers import cq_env, group_members, macos_bin, make_repo, render_cq


@dataclass(frozen=True)
class Runner:
    """How cq is run: by which shell, with which PATH (None: the normal one)."""

    shell: str
    path: str | None

    @property
    def id(self) -> str:
        return f"{self.shell}-{'no-flock-setsid' if self.path else 'util-linux'}"


@pytest.fixture(scope="session")
def repo(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """The main checkout and two linked worktrees, each built once (build script compiled)."""
    checkouts = make_repo(tmp_path_factory.mktemp("repo") / "q", worktrees=2)
    env = cq_env(Path("/nonexistent"))
    for checkout in checkouts:
        for args in (["build"], ["test", "--no-run"]):
            subprocess.run(["cargo", *args, "--quiet"], cwd=checkout, env=env, check=True)
    return checkouts


@pytest.fixture(scope="session")
def cq(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """cq rendered with the default profile."""
    return render_cq(tmp_path_factory.mktemp("cq") / "scripts" / "cq")


@pytest.fixture(scope="session")
def no_flock_path(tmp_path_factory: pytest.TempPathFactory) -> str:
    return str(macos_bin(tmp_path_factory.mktemp("macos") / "bin"))


def _runner(name: str, no_flock_path: str) -> Runner:
    shell, _, mode = name.partition("-")
    return Runner(shell, no_flock_path if mode == "macos" else None)


@pytest.fixture(params=["dash", "bash", "dash-macos", "bash-macos"])
def runner(request: pytest.FixtureRequest, no_flock_path: str) -> Runner:
    """Every shell, with and without util-linux flock/setsid."""
    return _runner(request.param, no_flock_path)


@pytest.fixture(params=["dash", "bash", "dash-macos"])
def runner3(request: pytest.FixtureRequest, no_flock_path: str) -> Runner:
    """The slower tests: dash and bash, and dash without flock/setsid (the issue's macOS case)."""
    return _runner(request.param, no_flock_path)


@pytest.fixture
def state(tmp_path: Path) -> Path:
    directory = tmp_path / "cq-state"
    directory.mkdir(mode=0o700)
    return directory


@pytest.fixture
def procs() -> Iterator[list[subprocess.Popen[str]]]:
    """cq processes a test started; afterwards any still running, and their build groups found
    in the holder records, are killed so one failing test cannot stall the next."""
    started: list[subprocess.Popen[str]] = []
    yield started
    for proc in started:
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@pytest.fixture
def groups() -> Iterator[list[int]]:
    """Build process groups a test saw; any member left afterwards is killed."""
    seen: list[int] = []
    yield seen
    for pgid in seen:
        if group_members(pgid):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pgid, signal.SIGKILL)
