"""``buildkit doctor``: measure every target directory of a repository the way the article did.

The report is a plain dict (``Report.data``) whose shape is documented in docs/doctor.md and
versioned by ``format``; the human view is rendered from the same dict.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from buildkit.diagnose import admission, cache, incremental, procs, queue, sharing, toolchains
from buildkit.diagnose.sizes import ProgressFn
from buildkit.diagnose.targets import (
    TargetScan,
    list_worktrees,
    repository_targets,
    scan_target,
    workspace_root,
    workspace_subdir,
)
from buildkit.diagnose.units import (
    CAUSE_DEP_FEATURES,
    CAUSE_FEATURES,
    CAUSE_PROFILE,
    CAUSE_TOOLCHAIN,
    Duplicate,
)
from buildkit.errors import BadInput, BuildkitError
from buildkit.profile import PROFILE_FILE, load_profile
from buildkit.results import json_result

FORMAT_VERSION = 2


@dataclass(frozen=True)
class Report:
    data: dict[str, Any]
    scans: tuple[TargetScan, ...]


def resolve_repo(path: Path) -> Path:
    root = path.expanduser().resolve()
    if not root.is_dir():
        raise BadInput(f"{path}: not a directory; pass a repository or worktree directory")
    return root


def iso(timestamp: float) -> str | None:
    if not timestamp:
        return None
    return datetime.fromtimestamp(timestamp, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def stderr_progress(enabled: bool) -> ProgressFn | None:
    """A progress line on stderr, rewritten in place (only when ``enabled``)."""
    if not enabled:
        return None
    import sys

    def show(label: str, files: int, size: int) -> None:
        sys.stderr.write(f"\rscanning {label}: {files} files, {human_bytes(size)}\033[K")
        sys.stderr.flush()

    return show


def clear_progress(progress: ProgressFn | None) -> None:
    if progress is not None:
        import sys

        sys.stderr.write("\r\033[K")
        sys.stderr.flush()


def grace_seconds(root: Path) -> float:
    """cq's grace period: ``CQ_GRACE_SECONDS``, else ``cq.grace_seconds``, else 10 (as cq)."""
    env = os.environ.get("CQ_GRACE_SECONDS", "")
    if env.isdigit():
        return float(env)
    if (root / PROFILE_FILE).is_file():
        try:
            value = load_profile(root).model.cq.grace_seconds
            return float(value)
        except BuildkitError:  # a broken profile is `buildkit check`'s business
            return 10.0
    return 10.0


def run_doctor(
    path: Path,
    *,
    progress: ProgressFn | None = None,
    now: Callable[[], float] = time.time,
    kill_orphans: bool = False,
) -> Report:
    root = workspace_root(resolve_repo(path))
    worktrees = list_worktrees(root)
    locations = repository_targets(root, worktrees)
    scans = tuple(scan_target(loc, progress) for loc in locations)
    clear_progress(progress)
    holders = queue.live_holders()
    scope = [str(w.path) for w in worktrees if w.exists] + [str(loc.path) for loc in locations]
    found = procs.orphans(holders, scope)
    orphan_list = procs.sample_cpu(found.listed)
    # The whole orphaned chain goes: the build processes and the shells left waiting on them.
    chain = orphan_list + found.wrappers
    stopped = procs.stop(chain, scope, grace_seconds(root)) if kill_orphans else None
    setup = _setup(root)
    installed = toolchains.installed()
    findings = _findings(scans, orphan_list, setup, installed)
    shared = sharing.inspect(worktrees, workspace_subdir(root))
    findings += sharing.findings(shared)
    compiler_cache = cache.inspect(root)
    findings += cache.findings(compiler_cache)
    budget = admission.inspect(root)
    findings += admission.findings(budget)
    data: dict[str, Any] = {
        "root": str(root),
        "generated": iso(now()),
        "bytes_counted_as": "allocated",
        "worktrees": [
            {"path": str(w.path), "branch": w.branch, "exists": w.exists, "prunable": w.prunable}
            for w in worktrees
        ],
        "toolchains_installed": sorted(installed.versions),
        "target_dirs": [_target_json(s, installed) for s in scans],
        "orphans": [_orphan_json(p) for p in orphan_list],
        "orphans_elsewhere": found.elsewhere,
        "stopped": None if stopped is None else [asdict(s) for s in stopped],
        "queue_holders": [
            {
                "pid": h.pid,
                "pgid": h.pgid,
                "cmd": h.cmd,
                "cwd": h.cwd,
                "started": iso(h.started or 0),
            }
            for h in holders
        ],
        "setup": setup,
        "sharing": shared,
        "cache": compiler_cache,
        "admission": budget,
        "findings": findings,
        "reclaimable_bytes": sum(f["bytes"] for f in findings),
    }
    return Report(json_result("doctor", data, FORMAT_VERSION), scans)


def _duplicate_json(dup: Duplicate) -> dict[str, Any]:
    return {
        "crate": dup.crate,
        "version": dup.version,
        "profile": dup.profile,
        "mode": dup.mode,
        "copies": len(dup.units),
        "hashes": [u.hash for u in dup.units],
        "bytes": sum(u.bytes for u in dup.units),
        "causes": dup.causes,
    }


def toolchain_bytes(scan: TargetScan) -> dict[str, int]:
    per: dict[str, int] = {}
    for unit in scan.units.values():
        per[unit.toolchain] = per.get(unit.toolchain, 0) + unit.bytes
    return dict(sorted(per.items()))


def old_toolchain_bytes(scan: TargetScan, installed: toolchains.Installed) -> int:
    if not installed.versions:
        return 0
    return sum(
        u.bytes
        for u in scan.units.values()
        if u.rustc_version is not None and u.rustc_version not in installed.versions
    )


def _target_json(scan: TargetScan, installed: toolchains.Installed) -> dict[str, Any]:
    crates: dict[str, dict[str, Any]] = {}
    for inc in scan.incremental:
        entry = crates.setdefault(
            inc.crate, {"dirs": 0, "bytes": 0, "newest": inc.newest, "oldest": inc.newest}
        )
        entry["dirs"] += 1
        entry["bytes"] += inc.bytes
        entry["newest"] = max(entry["newest"], inc.newest)
        entry["oldest"] = min(entry["oldest"], inc.newest)
    for entry in crates.values():
        entry["newest"], entry["oldest"] = iso(entry["newest"]), iso(entry["oldest"])
    return {
        "path": str(scan.path),
        "worktrees": [str(w) for w in scan.location.worktrees],
        "found_by": scan.location.how,
        "stale": scan.location.stale,
        "symlink_to": str(scan.symlink_to) if scan.symlink_to else None,
        "bytes": scan.bytes,
        "files": scan.files,
        "profiles": dict(sorted(scan.profiles.items())),
        "other_bytes": scan.other_bytes,
        "incremental": {
            "dirs": len(scan.incremental),
            "bytes": sum(i.bytes for i in scan.incremental),
            "crates": dict(sorted(crates.items())),
        },
        "rlibs": scan.rlibs,
        "units": len(scan.units),
        "layouts": sorted({u.layout for u in scan.units.values()}),
        "duplicates": [_duplicate_json(d) for d in scan.duplicates()],
        "toolchains": toolchain_bytes(scan),
        "old_toolchain_bytes": old_toolchain_bytes(scan, installed),
        "unrecognised": [str(p) for p in scan.unrecognised],
        "split_debuginfo_leftovers": {
            "files": scan.debuginfo_files,
            "bytes": scan.debuginfo_bytes,
        },
    }


def _orphan_json(proc: procs.Proc) -> dict[str, Any]:
    return {
        "pid": proc.pid,
        "ppid": proc.ppid,
        "pgid": proc.pgid,
        "program": proc.program,
        "cmd": proc.cmd,
        "cpu_percent": round(proc.cpu_percent, 1),
        "cpu_seconds": round(proc.cpu_seconds, 1),
        "age_seconds": round(proc.age_seconds),
        "cwd": proc.cwd,
    }


def _setup(root: Path) -> dict[str, Any]:
    profile_present = (root / PROFILE_FILE).is_file()
    hakari_wanted: bool | None = None
    profile_error: str | None = None
    if profile_present:
        try:
            hakari_wanted = load_profile(root).hakari_enabled
        except BuildkitError as exc:  # a finding; render and check refuse to go on
            profile_error = " ".join(str(exc).split())
    repo_cq = queue.repo_cq(root)
    on_path = shutil.which("cq")
    return {
        "profile": profile_present,
        "hakari_config": (root / ".config" / "hakari.toml").is_file(),
        "hakari_wanted": hakari_wanted,
        "profile_error": profile_error,
        "cq_in_repo": str(repo_cq) if repo_cq else None,
        "cq_on_path": on_path,
        "cq_state_problem": queue.state_problem(),
        "cargo_incremental_env": os.environ.get("CARGO_INCREMENTAL"),
    }


def _finding(
    kind: str, path: str | None, message: str, recommendation: str, size: int = 0
) -> dict[str, Any]:
    return {
        "kind": kind,
        "path": path,
        "message": message,
        "recommendation": recommendation,
        "bytes": size,
    }


def _findings(
    scans: tuple[TargetScan, ...],
    orphan_list: list[procs.Proc],
    setup: dict[str, Any],
    installed: toolchains.Installed,
) -> list[dict[str, Any]]:
    out = []
    several = len(scans) > 1
    for scan in scans:
        where = str(scan.path)
        # with several target dirs, every message says which one it is about
        at = f" in {where}" if several else ""
        if scan.location.stale:
            out.append(
                _finding(
                    "stale_target_dir",
                    where,
                    f"target directory of a worktree that no longer exists{at}",
                    "buildkit gc removes it",
                    scan.bytes,
                )
            )
            continue
        # The same choice as `buildkit gc --keep 1`, so the bytes quoted here are the bytes
        # gc frees.
        extra = incremental.beyond_newest(incremental.unowned(scan), 1)
        stale_inc = sum(inc.bytes for inc in extra)
        if extra:
            count = len(extra)
            out.append(
                _finding(
                    "incremental",
                    where,
                    f"{len(scan.incremental)} incremental dirs{at}; {count} "
                    f"{'is an older copy' if count == 1 else 'are older copies'} no unit uses "
                    "(Cargo never removes them)",
                    "buildkit gc --keep 1 (or gc.max_age in buildkit.yaml: cq runs it after "
                    "its builds); CARGO_INCREMENTAL=0 where a build is never repeated (CI)",
                    stale_inc,
                )
            )
        out += _duplicate_findings(scan, at)
        old = old_toolchain_bytes(scan, installed)
        if old:
            gone = sorted(
                {
                    u.toolchain
                    for u in scan.units.values()
                    if u.rustc_version and u.rustc_version not in installed.versions
                }
            )
            out.append(
                _finding(
                    "old_toolchain",
                    where,
                    f"units built by toolchains no longer installed{at}: " + ", ".join(gone),
                    "buildkit gc removes them",
                    old,
                )
            )
        if scan.debuginfo_files:
            out.append(
                _finding(
                    "split_debuginfo",
                    where,
                    f"{scan.debuginfo_files} object files (*.rcgu.o) and debug bundles (*.dSYM)"
                    f'{at}, {human_bytes(scan.debuginfo_bytes)}: split-debuginfo = "unpacked" '
                    "(macOS's default for dev builds) leaves them next to every binary",
                    'set split-debuginfo = "packed" in [profile.dev] (buildkit.yaml: '
                    "cargo.split_debuginfo: packed); buildkit gc removes the old ones with "
                    "their units",
                )
            )
        if scan.unrecognised:
            out.append(
                _finding(
                    "unrecognised_layout",
                    where,
                    f"{len(scan.unrecognised)} entries{at} in a layout buildkit does not "
                    f"recognise (first: {scan.unrecognised[0]}); gc never deletes them",
                    "check them by hand; report the layout to buildkit",
                )
            )
    for proc in orphan_list:
        out.append(
            _finding(
                "orphan",
                proc.cwd,
                f"pid {proc.pid} {proc.program}: orphaned, {proc.cpu_percent:.0f}% CPU, "
                f"started {human_age(proc.age_seconds)} ago, in {proc.cwd}",
                "buildkit doctor --kill-orphans; run builds through cq so they die with "
                "their session",
            )
        )
    if not setup["profile"]:
        out.append(_finding("setup", None, "no buildkit.yaml", "run `buildkit init`"))
    if setup["hakari_wanted"] and not setup["hakari_config"]:
        out.append(
            _finding(
                "setup",
                None,
                "hakari is on in buildkit.yaml but .config/hakari.toml is missing",
                "run `buildkit render`",
            )
        )
    if setup["profile_error"]:
        out.append(
            _finding(
                "setup",
                PROFILE_FILE,
                f"buildkit.yaml cannot be used: {setup['profile_error']}",
                "correct it where the message says: `buildkit check` and `buildkit render` refuse "
                "to go on until then",
            )
        )
    if setup["cq_state_problem"]:
        out.append(
            _finding(
                "setup",
                str(queue.state_dir()),
                "cq refuses its state directory, so every cq command exits 77 and no build "
                f"through cq runs: {setup['cq_state_problem']}",
                "do what cq says, or set CQ_STATE_DIR to a directory of your own",
            )
        )
    # the repository's own cq is enough (its .envrc puts scripts/ on PATH under direnv): only
    # a repository with none is worth a finding
    if not setup["cq_on_path"] and not setup["cq_in_repo"]:
        out.append(
            _finding(
                "setup",
                None,
                "no cq: not in the repository, not on PATH",
                "run `buildkit init` here, or install it for every repository "
                "(`buildkit provision`)",
            )
        )
    return out


_CAUSE_FIX = {
    CAUSE_FEATURES: "unify features with cargo-hakari (buildkit init turns it on for workspaces)",
    CAUSE_DEP_FEATURES: "unify features with cargo-hakari (buildkit init turns it on for "
    "workspaces)",
    CAUSE_PROFILE: "expected under cq: build/run keep incremental, test/check do not (docs/cq.md)",
    CAUSE_TOOLCHAIN: "buildkit gc removes units of toolchains no longer installed",
}


def _duplicate_findings(scan: TargetScan, at: str) -> list[dict[str, Any]]:
    dups = scan.duplicates()
    if not dups:
        return []
    by_cause: dict[str, list[Duplicate]] = {}
    for dup in dups:
        for c in dup.causes:
            by_cause.setdefault(c, []).append(dup)
    out = []
    for cause_name, members in sorted(by_cause.items()):
        if cause_name == CAUSE_PROFILE:
            # buildkit's own incremental policy makes these: listed with the duplicates and
            # their cause, never reported as a problem to fix
            continue
        worst = sorted(members, key=lambda d: (-len(d.units), d.crate))[:3]
        size = sum(d.extra_bytes for d in members)
        out.append(
            _finding(
                "duplicates",
                str(scan.path),
                f"{len(members)} libraries compiled more than once{at} (same version, profile, "
                f"target and mode; {human_bytes(size)} in extra copies), cause: {cause_name}; "
                "most copies: "
                + ", ".join(f"{d.crate} x{len(d.units)} ({d.profile})" for d in worst),
                _CAUSE_FIX.get(cause_name, "compare the units' fingerprints with cargo -v"),
            )
        )
        out[-1]["cause"] = cause_name
    return out


def human_bytes(size: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(size) < 1024 or unit == "TiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} TiB"


def human_age(seconds: float) -> str:
    for unit, span in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= span:
            return f"{seconds / span:.0f}{unit}"
    return f"{seconds:.0f}s"


def _table(rows: list[list[str]], right: set[int]) -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = []
    for n, row in enumerate(rows):
        cells = [
            c.rjust(w) if i in right else c.ljust(w)
            for i, (c, w) in enumerate(zip(row, widths, strict=True))
        ]
        lines.append("  ".join(cells).rstrip())
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return lines


def render_text(report: Report) -> str:
    data = report.data
    lines = [f"repository: {data['root']} ({len(data['worktrees'])} worktree(s))", ""]
    targets = data["target_dirs"]
    if targets:
        rows = [["target dir", "size", "profiles", "incr. dirs", "rlibs", "dup. crates"]]
        for t in targets:
            profiles = ", ".join(f"{p} {human_bytes(b)}" for p, b in t["profiles"].items())
            label = t["path"] + (" (stale)" if t["stale"] else "")
            rows.append(
                [
                    label,
                    human_bytes(t["bytes"]),
                    profiles or "-",
                    str(t["incremental"]["dirs"]),
                    str(t["rlibs"]),
                    str(len(t["duplicates"])),
                ]
            )
        lines += _table(rows, {1, 3, 4, 5})
    else:
        lines.append("no target directories found")
    for t in targets:
        crates = t["incremental"]["crates"]
        if crates:
            lines += ["", f"incremental dirs in {t['path']}:"]
            rows = [["crate", "dirs", "size", "newest", "oldest"]]
            rows += [
                [c, str(v["dirs"]), human_bytes(v["bytes"]), v["newest"] or "-", v["oldest"] or "-"]
                for c, v in crates.items()
            ]
            lines += ["  " + line for line in _table(rows, {1, 2})]
        if t["duplicates"]:
            lines += ["", f"libraries compiled more than once in {t['path']}:"]
            rows = [["crate", "version", "profile", "mode", "copies", "size", "cause"]]
            rows += [
                [
                    d["crate"],
                    d["version"] or "-",
                    d["profile"],
                    d["mode"],
                    str(d["copies"]),
                    human_bytes(d["bytes"]),
                    ", ".join(d["causes"]),
                ]
                for d in sorted(t["duplicates"], key=lambda d: (-d["copies"], d["crate"]))
            ]
            lines += ["  " + line for line in _table(rows, {4, 5})]
        if len(t["toolchains"]) > 1:
            lines += ["", f"bytes per toolchain in {t['path']}:"]
            rows = [["toolchain", "size"]]
            rows += [[v, human_bytes(b)] for v, b in t["toolchains"].items()]
            lines += ["  " + line for line in _table(rows, {1})]
    lines += ["", sharing.describe(data["sharing"])]
    lines += ["", *cache.describe(data["cache"])]
    lines += ["", *admission.describe(data["admission"])]
    if data["orphans"]:
        lines += ["", "orphaned build processes:"]
        rows = [["pid", "program", "cpu", "age", "cwd", "command"]]
        rows += [
            [
                str(o["pid"]),
                o["program"],
                f"{o['cpu_percent']:.0f}%",
                human_age(o["age_seconds"]),
                o["cwd"] or "?",
                o["cmd"][:60],
            ]
            for o in data["orphans"]
        ]
        lines += ["  " + line for line in _table(rows, {0, 2, 3})]
    else:
        lines += ["", "orphaned build processes: none"]
    if data["orphans_elsewhere"]:
        lines.append(
            f"  ({data['orphans_elsewhere']} more orphaned build processes of yours outside "
            "this repository: not listed)"
        )
    if data["stopped"] is not None:
        lines += ["", "stopped:" if data["stopped"] else "stopped: nothing"]
        for st in data["stopped"]:
            state = "gone" if st["gone"] else "STILL RUNNING"
            lines.append(
                f"  pid {st['pid']} {st['program']}: {st['signal']} to {st['how']}, {state}"
            )
    lines += ["", "findings:"]
    if not data["findings"]:
        lines.append("  none")
    for f in data["findings"]:
        freed = f" (frees {human_bytes(f['bytes'])})" if f["bytes"] else ""
        lines.append(f"  - {f['message']}{freed}")
        lines.append(f"    fix: {f['recommendation']}")
    lines += [
        "",
        f"reclaimable: {human_bytes(data['reclaimable_bytes'])} "
        "(sizes are allocated blocks, hard links counted once, as du does)",
    ]
    return "\n".join(lines)
