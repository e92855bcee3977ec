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

from buildkit.diagnose.targets import IncrementalDir, TargetScan
from buildkit.diagnose.units import Unit, crate_of

# rustc's last write to the directory and cargo's to the fingerprint are a moment apart; file
# times may be coarse (whole seconds on some file systems)
SLACK_SECONDS = 2.0


def owners(scan: TargetScan) -> dict[str, list[Unit]]:
    """Each incremental directory (by path) -> the units of its crate whose last compile wrote
    it last (usually one; units compiled side by side may share a window)."""
    windows: dict[tuple[str, str], list[Unit]] = {}
    for unit in scan.units.values():
        crate = crate_of(unit.main.memo) if unit.main is not None else None
        if crate is not None and unit.written:
            windows.setdefault((unit.profile, crate), []).append(unit)
    return {
        str(inc.path): [
            unit
            for unit in windows.get((inc.profile, inc.crate), [])
            if unit.started - SLACK_SECONDS <= inc.newest <= unit.written + SLACK_SECONDS
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


def beyond_newest(dirs: list[IncrementalDir], keep: int) -> list[IncrementalDir]:
    """Of DIRS (directories no unit uses), those beyond the newest ``keep`` per crate: the
    margin is for a unit whose files another tool re-dated."""
    groups: dict[tuple[str, str], list[IncrementalDir]] = {}
    for inc in dirs:
        groups.setdefault((inc.profile, inc.crate), []).append(inc)
    older = []
    for _, group in sorted(groups.items()):
        group.sort(key=lambda d: (d.newest, str(d.path)), reverse=True)
        older += group[keep:]
    return older
