"""Which compiled unit each incremental directory belongs to, and so which ones no unit uses:
the choice `buildkit gc --keep N` makes and `buildkit doctor` quotes.

rustc keeps one incremental directory per compiled crate, ``<crate>-<id>``, the id a hash of
the crate's name, its ``-C metadata`` and the compiler, which cargo does not record. One crate
name has several current ones: a library and its test harness, a binary of the same name and
its own, the `cargo check` and `cargo clippy` variants of each (clippy's wrapper changes the
metadata, not the fingerprint record). Keeping the newest per crate name deleted the others,
and the next `cargo test` compiled that crate from scratch.

What ties a directory to its unit is time: rustc writes the directory while it compiles the
unit, and cargo writes the unit's fingerprint files as that compile starts (the dep-info,
dated to the start) and ends (the fingerprint). A directory last written within a unit's
compile belongs to a unit that still exists, and goes with it (gc removes units by age, toolchain
and budget); a directory no unit's compile covers is one whose unit is gone, an older copy.
"""

from __future__ import annotations

import os

from buildkit.diagnose.targets import IncrementalDir, TargetScan
from buildkit.diagnose.units import Unit

# rustc's last write to the directory and cargo's to the fingerprint are a moment apart; file
# times may be coarse (whole seconds on some file systems)
SLACK_SECONDS = 2.0

# cargo's fingerprint file name: [flavor]<kind>-<target name>, e.g. lib-app_core,
# test-lib-app_core, test-bin-app-cli, build-script-build-script-build
FLAVORS = ("test-", "doc-", "run-")
KINDS = ("integration-test-", "build-script-", "lib-", "bin-", "example-", "bench-")


def crate_of(memo: str) -> str | None:
    """The crate name a unit's fingerprint file name is for (as in its incremental dir)."""
    for flavor in FLAVORS:
        if memo.startswith(flavor):
            memo = memo[len(flavor) :]
            break
    for kind in KINDS:
        if memo.startswith(kind):
            return memo[len(kind) :].replace("-", "_")
    return None


def _compile_window(unit: Unit) -> tuple[float, float] | None:
    """When the unit's last compile ran, from its fingerprint files' times."""
    if unit.fingerprint_dir is None or not unit.written:
        return None
    start = unit.written
    try:
        for name in os.listdir(unit.fingerprint_dir):
            start = min(start, os.lstat(unit.fingerprint_dir / name).st_mtime)
    except OSError:
        return None
    return start - SLACK_SECONDS, unit.written + SLACK_SECONDS


def owners(scan: TargetScan) -> dict[str, list[Unit]]:
    """Each incremental directory (by path) -> the units of its crate whose last compile wrote
    it last (usually one; units compiled side by side may share a window)."""
    windows: dict[tuple[str, str], list[tuple[float, float, Unit]]] = {}
    for unit in scan.units.values():
        main = unit.main
        crate = crate_of(main.memo) if main is not None else None
        window = _compile_window(unit) if crate is not None else None
        if crate is not None and window is not None:
            windows.setdefault((unit.profile, crate), []).append((*window, unit))
    return {
        str(inc.path): [
            unit
            for start, end, unit in windows.get((inc.profile, inc.crate), [])
            if start <= inc.newest <= end
        ]
        for inc in scan.incremental
    }


def unowned(
    scan: TargetScan, gone: frozenset[tuple[str, str]] = frozenset()
) -> list[IncrementalDir]:
    """The incremental directories no existing unit's compile wrote, counting the units in
    ``gone`` ((profile, hash) keys: being removed) as absent."""
    owned = owners(scan)
    return [
        inc
        for inc in scan.incremental
        if not [u for u in owned[str(inc.path)] if (u.profile, u.hash) not in gone]
    ]


def older_copies(
    scan: TargetScan, keep: int, gone: frozenset[tuple[str, str]] = frozenset()
) -> list[IncrementalDir]:
    """The directories no unit uses, beyond the newest ``keep`` of those per crate (a margin
    for a unit whose files another tool re-dated)."""
    groups: dict[tuple[str, str], list[IncrementalDir]] = {}
    for inc in unowned(scan, gone):
        groups.setdefault((inc.profile, inc.crate), []).append(inc)
    older = []
    for _, dirs in sorted(groups.items()):
        dirs.sort(key=lambda d: (d.newest, str(d.path)), reverse=True)
        older += dirs[keep:]
    return older
