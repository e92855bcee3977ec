"""``buildkit gc``: remove what Cargo never collects, holding cq's queue while deleting.

What goes: incremental directories no compiled unit uses beyond the newest N per (profile,
crate), incremental directories and compiled units not used for DURATION, units built by
toolchains no longer installed, target directories of worktrees that no longer exist, and, with
a size budget,
least-recently-used whole units until the target and build dirs fit, then the compiler
cache's least-recently-used store entries and the keyed store's compiled dependencies until
everything buildkit makes fits; compiled dependencies not used for DURATION go too, and so do
the CPU budget's compiled holders that other buildkit versions built. Every removal from a
target directory is checked to lie inside it; the caches' entries and old holders are found by
name in buildkit's own folders; a symbolic link is removed as a link and never followed.

``run_gc`` runs the deletion phase (``buildkit.diagnose.gc_worker``) under ``cq exec``, so it
waits for a running build and holds the queue while it scans and deletes.
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

from buildkit.diagnose import admission, cache_store, incremental, queue, toolchains
from buildkit.diagnose.doctor import resolve_repo
from buildkit.diagnose.sizes import FreedCounter, ProgressFn
from buildkit.diagnose.targets import (
    TargetScan,
    list_worktrees,
    repository_targets,
    scan_target,
    workspace_root,
)
from buildkit.diagnose.units import Unit
from buildkit.errors import BadInput, ToolFailed
from buildkit.results import json_result

DEFAULT_KEEP = 1
DEFAULT_OLDER_THAN = "30d"
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_DURATION = re.compile(r"(\d+)([smhdw])")
_SIZE = re.compile(r"^(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?$", re.IGNORECASE)
_SIZE_UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}


def parse_size(text: str, option: str = "--max-size") -> int:
    """``500M``, ``2G``, ``1.5GiB``, ``1048576`` → bytes (K, M, G, T are powers of 1024)."""
    match = _SIZE.match(text.strip())
    if match is None:
        raise BadInput(
            f"{option} {text!r}: not a size; use a number and an optional unit "
            "(K, M, G, T: powers of 1024), e.g. 20G or 500M"
        )
    return int(float(match[1]) * _SIZE_UNITS[match[2].lower()])


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
    max_size: int | None = None
    size_before: int = 0  # target and build dirs, allocated bytes, before removing
    toolchains_installed: list[str] = field(default_factory=list)

    @property
    def freed_bytes(self) -> int:
        return sum(r.bytes for r in self.removals if r.error is None)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["freed_bytes"] = self.freed_bytes
        data["bytes_counted_as"] = "allocated"
        data["size_after"] = self.size_before - self.freed_bytes
        return json_result("gc", data, format=1)

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
            max_size=data.get("max_size"),
            size_before=int(data.get("size_before", 0)),
            toolchains_installed=list(data.get("toolchains_installed", [])),
        )


def run_gc(
    path: Path,
    *,
    dry_run: bool = False,
    keep: int = DEFAULT_KEEP,
    older_than: str = DEFAULT_OLDER_THAN,
    progress: ProgressFn | None = None,
    use_queue: bool = True,
    max_size: str | None = None,
) -> GcResult:
    root = workspace_root(resolve_repo(path))
    if keep < 0:
        raise BadInput(f"--keep {keep}: must be 0 or more (incremental dirs kept per crate)")
    seconds = parse_duration(older_than)
    budget = parse_size(max_size) if max_size is not None else None
    cq = queue.find_cq(root) if use_queue and not dry_run else None
    if cq is not None:
        return _run_in_queue(cq, root, keep=keep, seconds=seconds, max_size=budget)
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
        root,
        dry_run=dry_run,
        keep=keep,
        seconds=seconds,
        queue_note=how,
        progress=progress,
        max_size=budget,
    )


def _run_in_queue(
    cq: Path, root: Path, *, keep: int, seconds: int, max_size: int | None
) -> GcResult:
    with tempfile.TemporaryDirectory(prefix="buildkit-gc-") as private:
        request = Path(private) / "request.json"
        result = Path(private) / "result.json"
        request.write_text(
            json.dumps(
                {
                    "root": str(root),
                    "keep": keep,
                    "seconds": seconds,
                    "max_size": max_size,
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
            "buildkit.diagnose.gc_worker",
            str(request),
            str(result),
        ]
        # from the repository: a cq whose queue is per repository picks the right one
        done = subprocess.run(command, check=False, stdout=subprocess.DEVNULL, cwd=root)
        if done.returncode != 0 or not result.is_file():
            raise ToolFailed(
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
    max_size: int | None = None,
) -> GcResult:
    """Scan, decide, and (unless ``dry_run``) delete. The caller holds the queue."""
    now = time.time() if now is None else now
    cutoff = now - seconds
    installed = toolchains.installed()
    result = GcResult(str(root), dry_run, keep, seconds, queue_note, max_size=max_size)
    result.toolchains_installed = sorted(installed.versions)
    scans = [scan_target(loc, progress) for loc in repository_targets(root, list_worktrees(root))]
    store = cache_store.entries()
    orphan_units = cache_store.unlinked_units()
    keyed = cache_store.keyed_entries()
    result.size_before = (
        sum(scan.bytes for scan in scans)
        + sum(e.bytes for e in store)
        + sum(e.bytes for e in orphan_units)
        + sum(e.bytes for e in keyed)
    )
    # compiled dependencies no build asked for in DURATION, like the target dirs' units
    stale_keyed = [e for e in keyed if e.used < cutoff]
    keyed = [e for e in keyed if e.used >= cutoff]
    for entry in stale_keyed:
        reason = "compiled dependency (keyed store) not used for the period"
        _remove_cache_file(entry, cache_store.keyed_dir(), reason, result, dry_run=dry_run)
    # compiled admission holders older buildkits built, not run for DURATION
    for path, size in admission.old_holders(root, cutoff):
        reason = "CPU budget's holder of another buildkit version, not used for the period"
        entry = cache_store.StoreEntry(path, 0.0, size)
        _remove_cache_file(entry, path.parent, reason, result, dry_run=dry_run)
    counter = FreedCounter()
    plans: list[tuple[TargetScan, list[Removal]]] = []
    for scan in scans:
        planned = _plan(
            scan, keep=keep, cutoff=cutoff, skipped=result.skipped, installed=installed.versions
        )
        for removal in planned:  # measured before anything goes: a dry run reports the same
            removal.bytes = counter.remove(removal.path)
        plans.append((scan, planned))
    if max_size is not None:
        freed = sum(r.bytes for _, planned in plans for r in planned)
        freed += sum(e.bytes for e in orphan_units)
        freed += sum(e.bytes for e in stale_keyed)
        over = result.size_before - freed - max_size
        # least recently used first across every target and build dir of the repository
        candidates = [
            c
            for n, (scan, planned) in enumerate(plans)
            for c in _budget_candidates(scan, planned, n)
        ]
        for _, _, n, removals in sorted(candidates, key=lambda c: (c[0], c[1])):
            if over <= 0:
                break
            for removal in removals:
                removal.bytes = counter.remove(removal.path)
                over -= removal.bytes
            plans[n][1].extend(removals)
        # then the compiler cache's store and the keyed store: each entry a compile to redo,
        # never a file a build uses
        cache_entries = [
            (e, cache_store.store_dir(), "compiler cache: least recently used, over budget")
            for e in store
        ] + [
            (
                e,
                cache_store.keyed_dir(),
                "compiled dependency (keyed store): least recently used, over budget",
            )
            for e in keyed
        ]
        for entry, top, reason in cache_entries:
            if over <= 0:
                break
            over -= _remove_cache_file(entry, top, reason, result, dry_run=dry_run)
        if over > 0:
            result.skipped.append(
                f"budget {max_size} B not reached ({over} B over): the rest is what the most "
                "recent build of each profile uses"
            )
    for scan, planned in plans:
        for removal in planned:
            if not dry_run:
                _remove(Path(removal.path), scan, removal)
            result.removals.append(removal)
    # the shared copies of units no target dir links to: checked again after the target dirs'
    # removals, which may have dropped the last link
    if not dry_run:
        orphan_units = cache_store.unlinked_units()
    for entry in orphan_units:
        reason = "shared copy of a unit no target dir links to any more"
        _remove_cache_file(entry, cache_store.units_dir(), reason, result, dry_run=dry_run)
    if progress is not None:
        sys.stderr.write("\r\033[K")
    return result


def _remove_cache_file(
    entry: cache_store.StoreEntry, top: Path, reason: str, result: GcResult, *, dry_run: bool
) -> int:
    """Remove (or, dry, plan) one file of the compiler cache's dir; the bytes it frees."""
    removal = Removal(str(entry.path), str(top), reason, entry.bytes)
    if not dry_run:
        try:
            if entry.path.is_dir() and not entry.path.is_symlink():
                shutil.rmtree(entry.path)
            else:
                entry.path.unlink()
        except FileNotFoundError:
            removal.bytes = 0
        except OSError as exc:
            removal.error, removal.bytes = f"{type(exc).__name__}: {exc.strerror}", 0
    result.removals.append(removal)
    return removal.bytes


def _unit_removals(unit: Unit, target: str, reason: str) -> list[Removal]:
    return [Removal(str(p), target, reason) for p in sorted(unit.paths)]


def _plan(
    scan: TargetScan,
    *,
    keep: int,
    cutoff: float,
    skipped: list[str],
    installed: frozenset[str],
) -> list[Removal]:
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
    gone: set[tuple[str, str]] = set()
    for unit in sorted(scan.units.values(), key=lambda u: (u.profile, u.name, u.hash)):
        label = f"unit {unit.profile}/{unit.name}-{unit.hash}"
        if installed and unit.rustc_version and unit.rustc_version not in installed:
            why = f"built by {unit.rustc_version}, no longer installed"
        elif unit.last_used and unit.last_used < cutoff:
            why = "not used since the cutoff"
        else:
            continue
        out += _unit_removals(unit, target, f"{label}: {why}")
        gone.add((unit.profile, unit.hash))
    # an incremental dir goes with its unit: a dir a remaining unit's compile wrote stays, however
    # old (a crate nobody edited for months is still built from it); the others go beyond the
    # newest `keep` of a crate, or once not written for DURATION
    orphans = incremental.unowned(scan, frozenset(gone))
    older = {inc.path for inc in incremental.beyond_newest(orphans, keep)}
    for inc in sorted(orphans, key=lambda d: (d.profile, d.crate, str(d.path))):
        label = f"incremental {inc.profile}/{inc.crate}"
        if inc.path in older:
            why = f"no compiled unit uses it, older than the newest {keep} such"
            out.append(Removal(str(inc.path), target, f"{label}: {why}"))
        elif inc.newest < cutoff:
            why = "no compiled unit uses it, not used since the cutoff"
            out.append(Removal(str(inc.path), target, f"{label}: {why}"))
    return out


def protected_units(scan: TargetScan) -> set[tuple[str, str]]:
    """Units the most recent build of each profile used, as far as the disk tells: the units
    whose outputs Cargo uplifted (it re-links them on every build that compiles), the newest
    unit of every target and compile mode, and everything those depend on (the fingerprints
    in their ``deps``)."""
    keep: set[tuple[str, str]] = set()
    newest: dict[tuple[Any, ...], Unit] = {}
    by_value: dict[tuple[str, int], tuple[str, str]] = {}
    for key, unit in scan.units.items():
        for fp in unit.fingerprints:
            if fp.value is not None:
                by_value[(unit.profile, fp.value)] = key
        uplifted = scan.uplifted.get(unit.profile, set())
        for output in unit.outputs:
            try:
                st = os.lstat(output)
            except OSError:
                continue
            if (st.st_dev, st.st_ino) in uplifted:
                keep.add(key)
        main = unit.main
        if main is not None:
            ident = (unit.profile, main.memo, main.path, main.target, main.compile_kind, unit.mode)
            best = newest.get(ident)
            if best is None or (unit.written, unit.hash) > (best.written, best.hash):
                newest[ident] = unit
    keep |= {(u.profile, u.hash) for u in newest.values()}
    stack = list(keep)
    while stack:
        unit = scan.units[stack.pop()]
        for fp in unit.fingerprints:
            for dep in fp.deps:
                found = by_value.get((unit.profile, dep))
                if found is not None and found not in keep:
                    keep.add(found)
                    stack.append(found)
    return keep


def _budget_candidates(
    scan: TargetScan, planned: list[Removal], index: int
) -> list[tuple[float, str, int, list[Removal]]]:
    """Whole units, and incremental dirs but those of the units the last builds used, that a
    budget may remove: (last used, label, which plan, removals)."""
    if scan.location.stale or scan.symlink_to is not None:
        return []
    target = str(scan.path)
    taken = {r.path for r in planned}
    keep = protected_units(scan)
    out: list[tuple[float, str, int, list[Removal]]] = []
    for key, unit in scan.units.items():
        if key in keep or any(str(p) in taken for p in unit.paths):
            continue
        label = f"unit {unit.profile}/{unit.name}-{unit.hash}"
        removals = _unit_removals(unit, target, f"{label}: least recently used, over budget")
        out.append((unit.last_used, f"{target}/{label}", index, removals))
    # a dir goes with its unit: the dir of a unit the last builds used stays, as the unit does
    owned = incremental.owners(scan)
    for inc in scan.incremental:
        units = owned[str(inc.path)]
        if str(inc.path) in taken or any((u.profile, u.hash) in keep for u in units):
            continue
        reason = f"incremental {inc.profile}/{inc.crate}: least recently used, over budget"
        out.append((inc.newest, str(inc.path), index, [Removal(str(inc.path), target, reason)]))
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
