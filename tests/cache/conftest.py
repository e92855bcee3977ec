"""The team cache's tests share one real Redis server per test (tests/cache/team_helpers.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from cache.team_helpers import Redis


@pytest.fixture
def redis(tmp_path: Path) -> Iterator[Redis]:
    directory = tmp_path / "redis"
    directory.mkdir(mode=0o700)
    server = Redis(directory)
    server.start()
    yield server
    server.stop()
