"""cq, the build queue, as gc and doctor see it: where it is, who holds it, running under it.

The contract relied on (docs/cq.md): the state directory is ``$CQ_STATE_DIR``, else
``$XDG_RUNTIME_DIR/buildkit-cq``, else ``~/.cache/buildkit-cq``; while a command holds a queue,
its holder record ``<queue>.holder`` sits directly in that directory with ``key=value`` lines
(``pid``, ``pgid``, ``started``, ``cwd``, ``cmd``, ``queue``); locks and waiters' tickets live
in ``<queue>.d/`` and are not holders; and ``cq exec CMD [ARGS...]`` runs a command holding the
queue, waiting for it first.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from buildkit.profile import PROFILE_FILE, load_profile

HOLDER_SUFFIX = ".holder"


@dataclass(frozen=True)
class Holder:
    file: Path
    pid: int
    pgid: int
    started: int | None
    cwd: str | None
    cmd: str | None


def state_dir() -> Path:
    explicit = os.environ.get("CQ_STATE_DIR")
    if explicit:
        return Path(explicit)
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime:
        return Path(runtime) / "buildkit-cq"
    return Path.home() / ".cache" / "buildkit-cq"


def _alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def live_holders() -> list[Holder]:
    """Holder records (``*.holder``) in the state directory whose holder is still alive."""
    directory = state_dir()
    holders = []
    try:
        if directory.stat().st_uid != os.getuid():
            return []  # not ours: its holder files prove nothing about our processes
        entries = sorted(directory.iterdir())
    except OSError:
        return []
    for path in entries:
        try:
            if path.suffix != HOLDER_SUFFIX or path.is_symlink() or not path.is_file():
                continue
            if path.stat().st_size > 65536:
                continue
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        fields = dict(line.split("=", 1) for line in text.splitlines() if "=" in line)
        try:
            pid, pgid = int(fields["pid"]), int(fields.get("pgid", fields["pid"]))
        except (KeyError, ValueError):
            continue
        if not _alive(pid):
            continue
        started = fields.get("started", "")
        holders.append(
            Holder(
                path,
                pid,
                pgid,
                int(started) if started.isdigit() else None,
                fields.get("cwd"),
                fields.get("cmd"),
            )
        )
    return holders


def repo_cq(root: Path) -> Path | None:
    """The cq rendered into the repository (``cq.path`` of buildkit.yaml), if it is there."""
    relative = "scripts/cq"
    if (root / PROFILE_FILE).is_file():
        try:
            relative = load_profile(root).model.cq.path
        except Exception:  # a broken profile is reported elsewhere; fall back to the default
            relative = "scripts/cq"
    candidate = root / relative
    if candidate.is_file() and os.access(candidate, os.X_OK):
        return candidate
    return None


def find_cq(root: Path) -> Path | None:
    """The repository's cq, else ``cq`` on PATH."""
    found = repo_cq(root)
    if found is not None:
        return found
    on_path = shutil.which("cq")
    return Path(on_path) if on_path else None
