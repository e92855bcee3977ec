"""Disk usage counted the way ``du`` counts it: allocated blocks, each hard-linked file once.

Nothing here follows a symbolic link: a link is counted as the link itself (``lstat``).
Entries that vanish while a scan runs (a build writing next door) are skipped.
"""

from __future__ import annotations

import os
import stat
import time
from collections.abc import Callable
from dataclasses import dataclass

ProgressFn = Callable[[str, int, int], None]
"""Called with (what is being scanned, files so far, bytes so far)."""

BLOCK = 512  # st_blocks is in 512-byte units on Linux and macOS


@dataclass
class Usage:
    bytes: int = 0
    files: int = 0
    newest_mtime: float = 0.0
    newest_use: float = 0.0  # newest modification, or access of a file

    def add(self, other: Usage) -> None:
        self.bytes += other.bytes
        self.files += other.files
        self.newest_mtime = max(self.newest_mtime, other.newest_mtime)
        self.newest_use = max(self.newest_use, other.newest_use)


class Walker:
    """Sums allocated bytes under paths; one Walker counts each (device, inode) once."""

    def __init__(self, label: str = "", progress: ProgressFn | None = None) -> None:
        self.seen: set[tuple[int, int]] = set()
        self.label = label
        self.progress = progress
        self.total_files = 0
        self.total_bytes = 0
        self._last_report = 0.0

    def _account(self, st: os.stat_result, usage: Usage) -> None:
        is_dir = stat.S_ISDIR(st.st_mode)
        if not is_dir:
            usage.files += 1
            self.total_files += 1
        if not is_dir and st.st_nlink > 1:
            key = (st.st_dev, st.st_ino)
            if key in self.seen:
                return
            self.seen.add(key)
        size = st.st_blocks * BLOCK
        usage.bytes += size
        self.total_bytes += size
        usage.newest_mtime = max(usage.newest_mtime, st.st_mtime)
        # a directory's access time changes whenever anything lists it (du, find, this scan):
        # only a file's access time says that a build read it
        used = st.st_mtime if is_dir else max(st.st_mtime, st.st_atime)
        usage.newest_use = max(usage.newest_use, used)
        if self.progress is not None and self.total_files % 2048 == 0:
            now = time.monotonic()
            if now - self._last_report >= 0.2:
                self._last_report = now
                self.progress(self.label, self.total_files, self.total_bytes)

    def stat_only(self, path: str) -> tuple[os.stat_result | None, Usage]:
        """Account for ``path`` itself (not its contents); None when it is gone."""
        usage = Usage()
        try:
            st = os.lstat(path)
        except OSError:
            return None, usage
        self._account(st, usage)
        return st, usage

    def usage(self, path: str) -> Usage:
        """Everything under ``path`` (and ``path`` itself), never following a link."""
        st, usage = self.stat_only(path)
        if st is not None and stat.S_ISDIR(st.st_mode):
            usage.add(self.contents(path))
        return usage

    def contents(self, path: str) -> Usage:
        """Everything under the directory ``path``, without ``path`` itself."""
        usage = Usage()
        stack = [path]
        while stack:
            current = stack.pop()
            try:
                with os.scandir(current) as entries:
                    for entry in entries:
                        try:
                            st = entry.stat(follow_symlinks=False)
                        except OSError:
                            continue
                        self._account(st, usage)
                        if stat.S_ISDIR(st.st_mode):
                            stack.append(entry.path)
            except OSError:
                continue
        return usage


class FreedCounter:
    """Bytes that removing paths gives back, as ``du`` would see it, path after path.

    A file still hard-linked from a path not removed frees nothing; the path that removes an
    inode's last link gets its bytes. A directory frees its own blocks.
    """

    def __init__(self) -> None:
        self._links: dict[tuple[int, int], int] = {}  # inode -> links removed so far

    def remove(self, root: str) -> int:
        freed = 0
        stack = [root]
        while stack:
            current = stack.pop()
            try:
                st = os.lstat(current)
            except OSError:
                continue
            if stat.S_ISDIR(st.st_mode):
                freed += st.st_blocks * BLOCK
                try:
                    with os.scandir(current) as entries:
                        stack.extend(entry.path for entry in entries)
                except OSError:
                    continue
                continue
            key = (st.st_dev, st.st_ino)
            removed = self._links.get(key, 0) + 1
            self._links[key] = removed
            if removed == st.st_nlink:
                freed += st.st_blocks * BLOCK
        return freed
