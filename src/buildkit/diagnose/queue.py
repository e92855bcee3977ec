"""cq, the build queue, as gc and doctor see it: where it is, who holds it, running under it.

The contract relied on is cq's own word (``cq __contract``, see ``contract``): where its state
directory is, that a holder record ``<queue>.holder`` sits directly in it with ``key=value``
lines (``record_keys``), and where the repository's shared build-dir is. Locks and waiters'
tickets live in ``<queue>.d/`` and are not holders; ``cq exec CMD [ARGS...]`` runs a command
holding the queue, waiting for it first.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from buildkit.errors import BuildkitError, EnvironmentProblem, InternalError, ToolFailed
from buildkit.profile import PROFILE_FILE, load_profile
from buildkit.resources import data_dir

HOLDER_SUFFIX = ".holder"  # cq's contract: holder_glob=*.holder (a test compares them)
CQ_SOURCE = "cq.sh"


@dataclass(frozen=True)
class Holder:
    file: Path
    pid: int
    pgid: int
    started: int | None
    cwd: str | None
    cmd: str | None


def contract(where: Path | None = None) -> dict[str, str]:
    """cq's own statement of the facts buildkit relies on (``cq __contract``: the state dir,
    the holder files, the record keys, the shared build-dir of the repository at ``where``).
    Asked of the cq source buildkit ships, which every rendered cq shares these rules with, so
    they are written once, in the script."""
    script = data_dir("templates") / CQ_SOURCE
    asked = f"`sh {script} __contract`"
    try:
        ran = subprocess.run(
            ["sh", str(script), "__contract"],
            cwd=where,
            capture_output=True,
            text=True,
            check=False,
            timeout=30,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        # Without cq's word nobody can say who holds the queue: never guess "nobody".
        raise ToolFailed(f"{asked} could not run ({exc}); is `sh` on PATH?") from None
    if ran.returncode != 0:
        said = " ".join((ran.stderr or ran.stdout).split()) or "no output"
        raise ToolFailed(f"{asked} failed (exit {ran.returncode}): {said}")
    facts = dict(line.split("=", 1) for line in ran.stdout.splitlines() if "=" in line)
    if not facts.get("state_dir"):
        raise InternalError(f"{asked} named no state_dir: templates/{CQ_SOURCE} is broken")
    return facts


def state_dir() -> Path:
    return Path(contract()["state_dir"])


def state_problem() -> str | None:
    """cq's own one line on why it refuses its state directory (it exits 77 then, on every
    command: a link, someone else's, open to others, setgid, an ACL), asked of cq itself so the
    rules stay in one place; None when cq uses it, or it does not exist yet (cq makes it)."""
    if not os.path.lexists(state_dir()):
        return None
    script = data_dir("templates") / CQ_SOURCE
    try:
        ran = subprocess.run(
            ["sh", str(script), "status"], capture_output=True, text=True, timeout=30, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None  # contract() above already ran cq: this is not where a broken sh shows
    if ran.returncode != 77:
        return None
    said = " ".join(ran.stderr.split()).removeprefix("cq: ")
    return said or "cq exits 77 without saying why"


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
    holders: list[Holder] = []
    try:
        if directory.stat().st_uid != os.getuid():
            return []  # not ours: its holder files prove nothing about our processes
        entries = sorted(directory.iterdir())
    except FileNotFoundError:
        return []  # no cq has run yet
    except OSError as exc:
        raise EnvironmentProblem(
            f"{directory}: cannot read cq's state ({exc.strerror}); fix its permissions"
        ) from None
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
        except BuildkitError:  # a broken profile is reported elsewhere; use the default
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
