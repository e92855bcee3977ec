"""Which incremental directories are older copies: the choice `buildkit gc --keep N` makes and
`buildkit doctor` quotes.

rustc keeps one incremental directory per compiled crate, ``<crate>-<id>``, where the id comes
from the crate's name and its ``-C metadata``. One crate name has several at once that are all
current: a library, its test harness, a binary of the same name and its test harness, the
`cargo check` variant of each. An older feature mix or profile of one of those leaves a
directory that no build will read again. So a crate name keeps its newest N directories for
each target and compile mode its units in that profile show (cargo's fingerprint records say
which), not N in all: keeping one per name made gc delete the test harness's directory after a
`cargo build`, and the next `cargo test` compiled that crate from scratch.
"""

from __future__ import annotations

from buildkit.diagnose.targets import IncrementalDir, TargetScan

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


def variants(scan: TargetScan) -> dict[tuple[str, str], int]:
    """(profile, crate) -> how many targets and compile modes of that crate its units build,
    each of which has an incremental directory of its own."""
    seen: dict[tuple[str, str], set[tuple[str, str, int]]] = {}
    for unit in scan.units.values():
        main = unit.main
        crate = crate_of(main.memo) if main is not None else None
        if main is None or crate is None:
            continue
        seen.setdefault((unit.profile, crate), set()).add((main.memo, unit.mode, main.compile_kind))
    return {key: len(found) for key, found in seen.items()}


def older_copies(scan: TargetScan, keep: int) -> list[IncrementalDir]:
    """The incremental directories beyond the newest ``keep`` per target and compile mode of
    each crate (at least ``keep`` per crate name when no unit names it)."""
    per_crate = variants(scan)
    groups: dict[tuple[str, str], list[IncrementalDir]] = {}
    for inc in scan.incremental:
        groups.setdefault((inc.profile, inc.crate), []).append(inc)
    older = []
    for key, dirs in sorted(groups.items()):
        dirs.sort(key=lambda d: (d.newest, str(d.path)), reverse=True)
        older += dirs[keep * max(per_crate.get(key, 1), 1) :]
    return older
