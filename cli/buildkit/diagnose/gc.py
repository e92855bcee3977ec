"""``buildkit gc``: remove what Cargo never collects, holding cq's queue while deleting.

What goes: incremental directories beyond the newest N per (profile, crate), incremental
directories and compiled units not used for DURATION, and target directories of worktrees
that no longer exist. Every removal is checked to lie inside a target directory; a symbolic
link is removed as a link and never followed.

Run as ``python -m buildkit.diagnose.gc REQUEST RESULT``, this module is the deletion phase
that ``run_gc`` starts under ``cq exec`` (so it waits for a running build and holds the queue
while it scans and deletes).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from buildkit.diagnose import queue
from buildkit.diagnose.doctor import resolve_repo
from buildkit.diagnose.sizes import FreedCounter, ProgressFn
from buildkit.diagnose.targets import (
    TargetScan,
    list_worktrees,
    repository_targets,
    scan_target,
)
from buildkit.errors import BadInput, EnvironmentProblem

DEFAULT_KEEP = 1
DEFAULT_OLDER_THAN = "30d"
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_DURATION = re.compile(r"(\d+)([smhdw])")


def parse_duration(text: str) -> int:
    """``30d``, ``12h``, ``1w2d``, ``90m``, ``45s`` → seconds."""
    value = text.strip()
    if not value or _DURATION.sub("", value) != "" or not _DURATION.search(value):
        raise BadInput(
            f"--older-than {text!r}: not a duration; use a number and a unit "
            "(s, m, h, d, w), e.g. 30d, 12h or 1w2d"
        )
    return sum(int(n) * _UNITS[u] for n, u in _DURATION.findall(value))


@dataclass
class Removal:
    path: str
    target_dir: str
    reason: str
    bytes: int = 0
    error: str | None = None


@dataclass
class GcResult:
    root: str
    dry_run: bool
    keep: int
    older_than_seconds: int
    queue: str  # how the queue was taken
    removals: list[Removal] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    @property
    def freed_bytes(self) -> int:
        return sum(r.bytes for r in self.removals if r.error is None)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["format"] = 1
        data["freed_bytes"] = self.freed_bytes
        data["bytes_counted_as"] = "allocated"
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> GcResult:
        removals = [Removal(**r) for r in data["removals"]]
        return cls(
            root=data["root"],
            dry_run=data["dry_run"],
            keep=data["keep"],
            older_than_seconds=data["older_than_seconds"],
            queue=data["queue"],
            removals=removals,
            skipped=list(data["skipped"]),
        )


def run_gc(
    path: Path,
    *,
    dry_run: bool = False,
    keep: int = DEFAULT_KEEP,
    older_than: str = DEFAULT_OLDER_THAN,
    progress: ProgressFn | None = None,
    use_queue: bool = True,
) -> GcResult:
    root = resolve_repo(path)
    if keep < 0:
        raise BadInput(f"--keep {keep}: must be 0 or more (incremental dirs kept per crate)")
    seconds = parse_duration(older_than)
    cq = queue.find_cq(root) if use_queue and not dry_run else None
    if cq is not None:
        return _run_in_queue(cq, root, keep=keep, seconds=seconds)
    how = (
        "not needed (dry run)"
        if dry_run
        else (
            "none: no cq in the repository or on PATH; deleted without waiting"
            if use_queue
            else "not taken (--no-queue)"
        )
    )
    return collect(
        root, dry_run=dry_run, keep=keep, seconds=seconds, queue_note=how, progress=progress
    )


def _run_in_queue(cq: Path, root: Path, *, keep: int, seconds: int) -> GcResult:
    with tempfile.TemporaryDirectory(prefix="buildkit-gc-") as private:
        request = Path(private) / "request.json"
        result = Path(private) / "result.json"
        request.write_text(
            json.dumps(
                {
                    "root": str(root),
                    "keep": keep,
                    "seconds": seconds,
                    "queue": f"held through {cq} exec",
                }
            ),
            encoding="utf-8",
        )
        command = [
            str(cq),
            "exec",
            sys.executable,
            "-m",
            "buildkit.diagnose.gc",
            str(request),
            str(result),
        ]
        # from the repository: a cq whose queue is per repository picks the right one
        done = subprocess.run(command, check=False, stdout=subprocess.DEVNULL, cwd=root)
        if done.returncode != 0 or not result.is_file():
            raise EnvironmentProblem(
                f"{cq} exec: gc's deletion phase failed (exit "
                f"{done.returncode}); run `buildkit gc --debug`, or "
                "`buildkit gc --no-queue` when no build can be running"
            )
        return GcResult.from_json(json.loads(result.read_text(encoding="utf-8")))


def collect(
    root: Path,
    *,
    dry_run: bool,
    keep: int,
    seconds: int,
    queue_note: str,
    progress: ProgressFn | None = None,
    now: float | None = None,
) -> GcResult:
    """Scan, decide, and (unless ``dry_run``) delete. The caller holds the queue."""
    now = time.time() if now is None else now
    cutoff = now - seconds
    result = GcResult(str(root), dry_run, keep, seconds, queue_note)
    for location in repository_targets(root, list_worktrees(root)):
        scan = scan_target(location, progress)
        planned = _plan(scan, keep=keep, cutoff=cutoff, skipped=result.skipped)
        counter = FreedCounter()
        for removal in planned:  # measured before anything goes: a dry run reports the same
            removal.bytes = counter.remove(removal.path)
        for removal in planned:
            if not dry_run:
                _remove(Path(removal.path), scan, removal)
            result.removals.append(removal)
    if progress is not None:
        sys.stderr.write("\r\033[K")
    return result


def _plan(scan: TargetScan, *, keep: int, cutoff: float, skipped: list[str]) -> list[Removal]:
    target = str(scan.path)
    if scan.location.stale:
        return [
            Removal(
                target,
                target,
                "target dir of a worktree that no longer exists"
                + (" (a symlink: only the link goes)" if scan.symlink_to else ""),
            )
        ]
    if scan.symlink_to is not None:
        skipped.append(f"{target}: a symlink to {scan.symlink_to}; not cleaned through a link")
        return []
    out: list[Removal] = []
    groups: dict[tuple[str, str], list[Any]] = {}
    for inc in scan.incremental:
        groups.setdefault((inc.profile, inc.crate), []).append(inc)
    for (profile, crate), dirs in sorted(groups.items()):
        dirs.sort(key=lambda d: d.newest, reverse=True)
        for n, inc in enumerate(dirs):
            if n >= keep:
                out.append(
                    Removal(
                        str(inc.path),
                        target,
                        f"incremental {profile}/{crate}: older than the newest {keep}",
                    )
                )
            elif inc.newest < cutoff:
                out.append(
                    Removal(
                        str(inc.path),
                        target,
                        f"incremental {profile}/{crate}: not used since the cutoff",
                    )
                )
    for unit in sorted(scan.units.values(), key=lambda u: (u.profile, u.name, u.hash)):
        if unit.last_used and unit.last_used < cutoff:
            for p in sorted(unit.paths):
                out.append(
                    Removal(
                        str(p),
                        target,
                        f"unit {unit.profile}/{unit.name}-{unit.hash}: not used since the cutoff",
                    )
                )
    return out


def _inside(path: Path, root_real: str) -> bool:
    parent = os.path.realpath(path.parent)
    return parent == root_real or parent.startswith(root_real.rstrip(os.sep) + os.sep)


def _remove(path: Path, scan: TargetScan, removal: Removal) -> None:
    """Delete one planned path; never outside the target dir, never through a link."""
    is_root = path == scan.path
    if not is_root and (
        os.path.islink(scan.path) or not _inside(path, os.path.realpath(scan.path))
    ):
        removal.error = "refused: not inside the target directory"
        removal.bytes = 0
        return
    try:
        st = os.lstat(path)
        if stat.S_ISDIR(st.st_mode):
            shutil.rmtree(path)  # removes links found inside as links; never descends them
        else:
            path.unlink()  # a file, or a symlink (the link only)
    except FileNotFoundError:
        removal.bytes = 0
    except OSError as exc:
        removal.error = f"{type(exc).__name__}: {exc.strerror or exc}"
        removal.bytes = 0


def render_text(result: GcResult) -> str:
    from buildkit.diagnose.doctor import human_bytes

    verb = "would remove" if result.dry_run else "removed"
    lines = [f"queue: {result.queue}"]
    for r in result.removals:
        if r.error:
            lines.append(f"failed: {r.path}: {r.error}")
        else:
            lines.append(f"{verb}: {r.path} ({human_bytes(r.bytes)}; {r.reason})")
    lines += [f"skipped: {s}" for s in result.skipped]
    total = human_bytes(result.freed_bytes)
    lines.append(
        f"{'would free' if result.dry_run else 'freed'} {total} "
        f"in {sum(1 for r in result.removals if not r.error)} item(s)"
    )
    return "\n".join(lines)


def _main(argv: list[str]) -> int:
    request_file, result_file = argv
    request = json.loads(Path(request_file).read_text(encoding="utf-8"))
    result = collect(
        Path(request["root"]),
        dry_run=False,
        keep=int(request["keep"]),
        seconds=int(request["seconds"]),
        queue_note=str(request["queue"]),
    )
    Path(result_file).write_text(json.dumps(result.to_json()), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(_main(sys.argv[1:]))
