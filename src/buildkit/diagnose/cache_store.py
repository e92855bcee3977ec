"""The compiler cache's local store, as gc's disk budget sees it.

The budget is for everything buildkit makes: the repository's target and build dirs and the
store of the compiler cache (``render/cache.py``: ``<cache dir>/store``). An entry of the store
is a compressed copy of a compile's outputs, never a file a worktree builds from, so removing
one can only turn a future hit into a compile: nothing a build uses is removed from under it.

Beside the store, ``<cache dir>/units`` holds the one copy of each dependency's ``.rlib`` that
worktrees link to (the wrapper's "one file for identical units"). A copy whose link count is 1
is linked from no target dir any more: gc removes it. One still linked frees nothing when
removed, so gc leaves it: the target dirs' own removals release it.

``<cache dir>/keyed/<2 hex>/<key>/`` holds a dependency's compiled outputs under the key of its
compile (the wrapper's "compiled dependencies, kept by their key"): a ``manifest`` (touched at
every hit) and the files. A worktree's files are its own copies, or for an ``.rlib`` a link to
the entry's, so removing an entry turns a future hit into a compile and never removes a file a
build uses. What an entry frees is its files no target dir links to.
"""

from __future__ import annotations

import os
import stat
import time
from dataclasses import dataclass
from pathlib import Path

from buildkit.diagnose.sizes import BLOCK
from buildkit.render.cache import cache_dir


@dataclass(frozen=True)
class StoreEntry:
    path: Path
    used: float  # the newer of access and modification time
    bytes: int  # allocated


def store_dir() -> Path:
    return cache_dir() / "store"


def units_dir() -> Path:
    return cache_dir() / "units"


def keyed_dir() -> Path:
    return cache_dir() / "keyed"


def keyed_entries(top: Path | None = None) -> list[StoreEntry]:
    """Every entry of the keyed store (a directory), least recently used first; its bytes are
    those of its files linked from nowhere else."""
    top = keyed_dir() if top is None else top
    found = []
    for shard in _listdir(top):
        if shard.startswith((".new-", ".old-", ".key-")):
            found.append(_leftover(top / shard))
            continue
        for name in _listdir(top / shard):
            entry = top / shard / name
            if len(name) != 64 or not entry.is_dir() or entry.is_symlink():
                continue
            try:
                st = (entry / "manifest").lstat()
                used = max(st.st_atime, st.st_mtime)
            except OSError:
                used = 0.0  # a half-written entry: the first to go
            size = sum(e.bytes for e in _files(entry, only_unlinked=True))
            found.append(StoreEntry(entry, used, size))
    return sorted(found, key=lambda e: (e.used, str(e.path)))


def _leftover(path: Path) -> StoreEntry:
    """What a save killed half-way left (an entry being written or replaced): gone once it is
    an hour old, like an entry not used for the period; a younger one may be a save going on."""
    try:
        st = path.lstat()
    except OSError:
        return StoreEntry(path, time.time(), 0)
    files = _files(path, only_unlinked=True) if stat.S_ISDIR(st.st_mode) else []
    size = sum(e.bytes for e in files) if files else st.st_blocks * BLOCK
    used = 0.0 if time.time() - st.st_mtime > 3600 else time.time()
    return StoreEntry(path, used, size)


def _listdir(path: Path) -> list[str]:
    try:
        return sorted(os.listdir(path))
    except OSError:
        return []


def unlinked_units(units: Path | None = None) -> list[StoreEntry]:
    """The shared copies no target dir links to any more (a link count of 1)."""
    return _files(units_dir() if units is None else units, only_unlinked=True)


def entries(store: Path | None = None) -> list[StoreEntry]:
    """Every file of the store, least recently used first; never through a link."""
    return _files(store_dir() if store is None else store, only_unlinked=False)


def _files(top: Path, *, only_unlinked: bool) -> list[StoreEntry]:
    """The regular files below ``top``, least recently used first (os.walk follows no link)."""
    found = []
    for dirpath, _dirs, files in os.walk(top):
        for name in files:
            path = Path(dirpath) / name
            try:
                st = path.lstat()
            except OSError:
                continue
            if not stat.S_ISREG(st.st_mode) or (only_unlinked and st.st_nlink != 1):
                continue
            found.append(StoreEntry(path, max(st.st_atime, st.st_mtime), st.st_blocks * BLOCK))
    return sorted(found, key=lambda e: (e.used, str(e.path)))
