"""A copy of the files another program may change, to put back when that program fails.

A render's side-effect steps run tools that write the repository themselves (``cargo hakari``
edits members' ``Cargo.toml``, regenerates the workspace-hack crate, may rewrite
``Cargo.lock``); buildkit cannot stage their writes as it stages its own files. So before a
step runs, every path it names is read into memory (content and mode; a folder with everything
in it; a missing path as missing), and when the step fails each file that differs is put back
atomically and each file or folder that appeared is removed. A file that did not change is
not written again, so a file the tool could not write (immutable, read-only) is no obstacle.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from buildkit.errors import WriteFailed


@dataclass(frozen=True)
class _File:
    content: bytes
    mode: int


@dataclass
class Snapshot:
    """Files (relative path -> content and mode, None: absent) and folders as they were."""

    root: Path
    files: dict[str, _File | None] = field(default_factory=dict)
    folders: dict[str, int | None] = field(default_factory=dict)  # mode; None: absent

    @classmethod
    def take(cls, root: Path, paths: Iterable[str]) -> Snapshot:
        snapshot = cls(root)
        for relative in paths:
            snapshot._add(relative)
        return snapshot

    def _add(self, relative: str) -> None:
        path = self.root / relative
        if path.is_symlink() or path.is_file():
            self.files[relative] = _read(path)
        elif path.is_dir():
            self.folders[relative] = stat.S_IMODE(path.stat().st_mode)
            for inner in sorted(path.rglob("*")):
                name = inner.relative_to(self.root).as_posix()
                if inner.is_dir() and not inner.is_symlink():
                    self.folders[name] = stat.S_IMODE(inner.stat().st_mode)
                else:
                    self.files[name] = _read(inner)
        else:
            self.files.setdefault(relative, None)
            self.folders.setdefault(relative, None)

    def restore(self) -> None:
        """Put every recorded path back as it was; raise WriteFailed naming the first file
        that could not be put back (after trying all of them)."""
        failed: list[tuple[str, OSError]] = []
        for relative in self._appeared():
            path = self.root / relative
            try:
                if path.is_dir() and not path.is_symlink():
                    path.rmdir()  # its files were removed first (deepest paths come first)
                else:
                    path.unlink()
            except OSError as exc:
                failed.append((relative, exc))
        for relative, mode in sorted(self.folders.items()):
            path = self.root / relative
            if mode is not None and not path.is_dir():
                try:
                    path.mkdir(mode=mode)
                except OSError as exc:
                    failed.append((relative, exc))
        for relative, before in self.files.items():
            if before is None:
                continue
            try:
                _put_back(self.root / relative, before)
            except OSError as exc:
                failed.append((relative, exc))
        if failed:
            where, error = failed[0]
            raise WriteFailed(
                f"{self.root / where}: could not be put back as it was ({error.strerror}); "
                "restore it from version control (`git checkout -- .`), then render again",
                path=self.root / where,
            )

    def _appeared(self) -> list[str]:
        """Paths that were absent, or are new inside a recorded folder: deepest first."""
        found: set[str] = set()
        for relative, before in self.files.items():
            if before is None and os.path.lexists(self.root / relative):
                found.add(relative)
        for relative, mode in self.folders.items():
            path = self.root / relative
            if mode is None or not path.is_dir() or path.is_symlink():
                continue
            for inner in path.rglob("*"):
                name = inner.relative_to(self.root).as_posix()
                if name not in self.files and name not in self.folders:
                    found.add(name)
        for relative, mode in self.folders.items():
            if mode is None and os.path.lexists(self.root / relative):
                found.update(
                    p.relative_to(self.root).as_posix() for p in (self.root / relative).rglob("*")
                )
                found.add(relative)
        return sorted(found, key=lambda name: (-name.count("/"), name))


def _read(path: Path) -> _File:
    if path.is_symlink():
        # Tools do not replace links; a link is recorded by where it points.
        return _File(str(path.readlink()).encode(), -1)
    return _File(path.read_bytes(), stat.S_IMODE(path.stat().st_mode))


def _put_back(path: Path, before: _File) -> None:
    if before.mode == -1:
        if path.is_symlink() and str(path.readlink()).encode() == before.content:
            return
        path.unlink(missing_ok=True)
        path.symlink_to(before.content.decode())
        return
    if path.is_file() and not path.is_symlink():
        same_mode = stat.S_IMODE(path.stat().st_mode) == before.mode
        if same_mode and path.read_bytes() == before.content:
            return  # unchanged: not written again
    temp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.restore")
    try:
        with temp.open("xb") as handle:
            handle.write(before.content)
            handle.flush()
            os.fsync(handle.fileno())
        temp.chmod(before.mode)
        temp.replace(path)
    except BaseException:
        with contextlib.suppress(OSError):
            temp.unlink(missing_ok=True)
        raise
