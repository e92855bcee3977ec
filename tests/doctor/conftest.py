"""Fixtures for the doctor/gc tests: a real build of the feature-mix workspace, copied per test,
and processes started on purpose (always killed afterwards)."""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from doctor.doctor_helpers import build_all, make_repo


@pytest.fixture(scope="session")
def built_once(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One real build of every feature mix; tests copy it (``cp -a`` keeps the hard links)."""
    root = make_repo(tmp_path_factory.mktemp("built") / "ws")
    build_all(root)
    return root


@pytest.fixture
def built(built_once: Path, tmp_path: Path) -> Path:
    """A private copy of the built workspace (a git repository of its own)."""
    copy = tmp_path / "ws"
    subprocess.run(["cp", "-a", str(built_once), str(copy)], check=True)
    return copy


@pytest.fixture
def spawned() -> Iterator[list[int]]:
    """Pids of processes a test started on purpose; all killed afterwards."""
    pids: list[int] = []
    yield pids
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, 9)
