"""buildkit gc on target dirs produced by real cargo builds."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path
from typing import Any

import pytest

from buildkit.diagnose import admission
from conftest import build_file_tree, run_buildkit
from doctor.doctor_helpers import (
    cargo,
    doctor_json,
    drop_units,
    du,
    find,
    gc_json,
    git,
    listing,
)

OLD = time.time() - 90 * 86400


def _removed(result: dict[str, Any]) -> list[str]:
    return sorted(r["path"] for r in result["removals"] if r["error"] is None)


def _incremental_counts(target: Path) -> dict[str, int]:
    left = find(
        target, "-mindepth", "3", "-maxdepth", "3", "-type", "d", "-path", "*/incremental/*"
    )
    crates = sorted(Path(p).name.rsplit("-", 1)[0] for p in left)
    return {c: crates.count(c) for c in crates}


def test_gc_frees_the_bytes_it_reports_and_cargo_still_builds(built: Path) -> None:
    target = built / "target"
    left_behind = drop_units(built, "app2")
    assert len(left_behind) >= 2  # app2's binaries (one per core-lib feature mix), its test
    counts_before = _incremental_counts(target)
    before = du(target)
    result = gc_json(built, "--keep", "1")
    after = du(target)
    assert result["freed_bytes"] > 0
    assert before - after == result["freed_bytes"]
    assert all(r["error"] is None for r in result["removals"])
    # of the dirs no unit uses, the newest of the crate stays (--keep 1); every dir a unit uses
    # stays, app1's and core_lib's for each feature mix and mode the fixture built
    removed = _removed(result)
    assert len(removed) == len(left_behind) - 1
    assert set(removed) <= {str(p) for p in left_behind}
    assert _incremental_counts(target) == {**counts_before, "app2": 1}
    cargo(built, "build")
    cargo(built, "test")


def test_older_than_removes_unused_units_and_cargo_rebuilds(built: Path) -> None:
    target = built / "target"
    # make every unit of app2 look unused for 90 days (access and modification times)
    app2 = [Path(p) for p in find(target, "-path", "*/debug/*", "-name", "app2-*")]
    assert app2
    for path in app2:
        for inner in [path, *(path.rglob("*") if path.is_dir() else [])]:
            os.utime(inner, (OLD, OLD), follow_symlinks=False)
    before = du(target)
    result = gc_json(built, "--older-than", "30d", "--keep", "100")
    assert before - du(target) == result["freed_bytes"] > 0
    assert _removed(result) == sorted(str(p) for p in app2)
    cargo(built, "build")
    assert (target / "debug" / "app2").is_file()


def test_dry_run_deletes_nothing_and_lists_exactly_what_goes(built: Path) -> None:
    target = built / "target"
    before = listing(target)
    dry = gc_json(built, "--dry-run", "--older-than", "0s")
    assert listing(target) == before
    assert dry["dry_run"] is True and dry["removals"]
    real = gc_json(built, "--older-than", "0s")
    assert _removed(real) == _removed(dry)
    assert real["freed_bytes"] == dry["freed_bytes"]
    ran = run_buildkit("gc", built, "--dry-run")
    assert "would remove:" in ran.stdout or "would free 0 B" in ran.stdout


def test_symlinks_out_of_the_target_dir_are_never_followed(built: Path, tmp_path: Path) -> None:
    target = built / "target"
    outside = tmp_path / "precious"
    (outside / "dir").mkdir(parents=True)
    (outside / "dir" / "keep.txt").write_text("keep me")
    (outside / "file.rlib").write_text("keep me too")
    incremental = target / "debug" / "incremental"
    doomed = sorted(p for p in incremental.iterdir() if p.name.startswith("core_lib-"))[0]
    # 1. a link inside an incremental dir gc removes
    (doomed / "escape").symlink_to(outside / "dir")
    # 2. an incremental "dir" that is a link out of the target dir
    (incremental / "core_lib-0000000000000").symlink_to(outside / "dir")
    # 3. an old unit in deps/ that is a link to a file outside
    unit = target / "debug" / "deps" / "libevil-0123456789abcdef.rlib"
    unit.symlink_to(outside / "file.rlib")
    os.utime(unit, (OLD, OLD), follow_symlinks=False)
    # 4. a removed worktree whose target/ is a link to a directory outside
    gone = built.parent / "gone"
    git(built, "worktree", "add", "-q", str(gone))
    shutil.rmtree(gone)
    gone.mkdir()
    (gone / "target").symlink_to(outside)
    before = listing(outside)

    for args in (["--dry-run", "--older-than", "0s"], ["--older-than", "0s", "--keep", "0"]):
        result = gc_json(built, *args)
        assert listing(outside) == before
        assert (outside / "dir" / "keep.txt").read_text() == "keep me"
    removed = _removed(result)
    assert str(doomed) in removed
    assert str(unit) in removed
    assert str(gone / "target") in removed
    assert not os.path.lexists(doomed)
    assert not os.path.lexists(unit)
    assert not os.path.lexists(gone / "target")
    # the link that only looks like an incremental dir was never treated as one
    assert (incremental / "core_lib-0000000000000").is_symlink()


def test_removed_worktree_target_is_deleted(built: Path) -> None:
    gone = built.parent / "gone"
    git(built, "worktree", "add", "-q", str(gone))
    cargo(gone, "build", "-p", "app1")
    for entry in gone.iterdir():
        if entry.name != "target":
            shutil.rmtree(entry) if entry.is_dir() else entry.unlink()
    size = du(gone / "target")
    # a removed worktree whose target/ Cargo did not make (no CACHEDIR.TAG): left alone
    other = built.parent / "other"
    git(built, "worktree", "add", "-q", str(other))
    shutil.rmtree(other)
    (other / "target").mkdir(parents=True)
    (other / "target" / "notes.txt").write_text("mine")
    result = gc_json(built)
    assert (other / "target" / "notes.txt").read_text() == "mine"
    assert str(gone / "target") in _removed(result)
    assert not (gone / "target").exists()
    stale = next(r for r in result["removals"] if r["path"] == str(gone / "target"))
    assert stale["bytes"] == size
    assert (built / "target").is_dir()


def test_bad_arguments_are_one_line_errors(built: Path) -> None:
    for args, needle in (
        (["--older-than", "5x"], "not a duration"),
        (["--older-than", ""], "not a duration"),
        (["--keep", "-1"], "must be 0 or more"),
    ):
        ran = run_buildkit("gc", built, *args)
        assert ran.exit_code == 2, args
        assert ran.stderr.count("\n") == 1 and needle in ran.stderr, ran.stderr


def test_doctor_quotes_the_bytes_gc_frees_for_incremental_dirs(built: Path) -> None:
    # doctor recommends `gc --keep 1`; the bytes it promises must be the bytes gc would free.
    # The dirs units no longer use: app2's and core_lib's; age the largest of each crate so
    # that "newest" and "largest" pick different dirs.
    orphans = drop_units(built, "app2") + drop_units(built, "core-lib")
    groups: dict[str, list[Path]] = {}
    for d in orphans:
        groups.setdefault(d.name.rsplit("-", 1)[0], []).append(d)
    aged = 0
    for dirs in groups.values():
        if len(dirs) > 1 and len({du(d) for d in dirs}) > 1:
            largest = max(dirs, key=du)
            for inner in [largest, *largest.rglob("*")]:
                os.utime(inner, (OLD, OLD), follow_symlinks=False)
            aged += 1
    assert aged, "the fixture build must leave incremental dirs of different sizes per crate"
    report = doctor_json(built)
    promised = sum(
        f["bytes"]
        for f in report["findings"]
        if f["kind"] == "incremental"  # type: ignore[index]
    )
    dry = gc_json(built, "--dry-run", "--keep", "1", "--older-than", "10000d")
    incremental = [r for r in dry["removals"] if "/incremental/" in r["path"]]  # type: ignore[index]
    assert incremental, "the fixture build must leave more than one incremental dir per crate"
    assert promised == sum(r["bytes"] for r in incremental)


def _compiled(root: Path, *args: str) -> list[str]:
    """The units a real cargo command compiles (its `Compiling` lines)."""
    import subprocess

    from doctor.doctor_helpers import cargo_env

    ran = subprocess.run(
        ["cargo", *args, "-v"], cwd=root, env=cargo_env(), capture_output=True, text=True
    )
    assert ran.returncode == 0, ran.stderr
    return [line for line in ran.stderr.splitlines() if line.lstrip().startswith("Compiling")]


def test_hashed_example_binaries_go_with_their_unit(tmp_path: Path) -> None:
    from doctor.doctor_helpers import make_repo

    root = make_repo(tmp_path / "ws")
    (root / "app1" / "examples").mkdir()
    (root / "app1" / "examples" / "demo.rs").write_text("fn main() {}\n")
    cargo(root, "build", "--examples", "-p", "app1")
    examples = root / "target" / "debug" / "examples"
    hashed = find(examples, "-regex", ".*/demo-[0-9a-f]+\\(\\.d\\)?")
    assert hashed
    time.sleep(1.1)
    result = gc_json(root, "--older-than", "1s", "--keep", "100")
    assert set(hashed) <= set(_removed(result))
    assert not find(examples, "-regex", ".*/demo-[0-9a-f]+\\(\\.d\\)?")


def test_max_size_keeps_what_the_last_builds_use(built: Path) -> None:
    target = built / "target"
    before = du(target)
    result = gc_json(built, "--max-size", "1")  # impossible: everything unprotected goes
    assert before - du(target) == result["freed_bytes"] > 0
    assert result["size_after"] == du(target)
    assert any("budget" in s for s in result["skipped"])
    # the last command of each kind the fixture ran compiles nothing afterwards
    assert _compiled(built, "test", "--no-run") == []
    assert _compiled(built, "build") == []
    assert _compiled(built, "check", "-p", "app1") == []


def test_max_size_stops_once_the_budget_is_met(built: Path, tmp_path: Path) -> None:
    import subprocess

    # what the protected units alone take: a copy cleaned with an impossible budget
    floor_copy = tmp_path / "floor"
    subprocess.run(["cp", "-a", str(built), str(floor_copy)], check=True)
    gc_json(floor_copy, "--max-size", "1")
    floor = du(floor_copy / "target")
    target = built / "target"
    before = du(target)
    budget = (before + floor) // 2
    assert floor < budget < before
    result = gc_json(built, "--max-size", str(budget))
    after = du(target)
    assert after <= budget
    assert before - after == result["freed_bytes"]
    assert not any("budget" in s for s in result["skipped"])
    # it stopped once the budget was met: a --max-size 1 run frees more
    assert after > floor


def test_bad_max_size_is_one_line(built: Path) -> None:
    ran = run_buildkit("gc", built, "--max-size", "lots")
    assert ran.exit_code == 2 and ran.stderr.count("\n") == 1 and "--max-size" in ran.stderr


def test_through_cq_without_a_runtime_warning(built: Path, tmp_path: Path) -> None:
    import subprocess
    import sys

    from cq.cq_helpers import cq_env, render_cq

    render_cq(built / "scripts" / "cq")
    env = cq_env(tmp_path / "state")
    env["PYTHONWARNINGS"] = "default"  # show every warning python would print
    ran = subprocess.run(
        [sys.executable, "-m", "buildkit", "gc", str(built), "--max-size", "1"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert ran.returncode == 0, ran.stderr
    assert "Warning" not in ran.stderr, ran.stderr
    assert f"queue: held through {built / 'scripts' / 'cq'} exec" in ran.stdout
    assert "freed" in ran.stdout


@pytest.fixture(autouse=True)
def no_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """gc's budget counts the compiler cache's store: each test has its own, empty unless the
    test fills it (never the session's shared one)."""
    monkeypatch.setenv("BUILDKIT_CACHE_DIR", str(tmp_path / "cache"))


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A compiler cache of this test's own: entries of 1 MiB, oldest first by access time."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("BUILDKIT_CACHE_DIR", str(cache))
    store = cache / "store"
    for n in range(6):
        entry = store / f"{n:x}" / f"{n:x}entry"
        entry.parent.mkdir(parents=True)
        entry.write_bytes(os.urandom(1 << 20))
        os.utime(entry, (1_000_000 + n * 1000, 1_000_000 + n * 1000))
    return store


def test_max_size_counts_the_compiler_cache_and_trims_its_oldest_entries(
    built: Path, store: Path
) -> None:
    # the budget is for target dirs plus the store: once the targets are down to what the last
    # builds use, the store's least recently used entries go, and no more than needed
    target = built / "target"
    dry = gc_json(built, "--max-size", "1", "--dry-run")["removals"]
    from_targets = sum(r["bytes"] for r in dry if "compiler cache" not in r["reason"])  # type: ignore[union-attr, index]
    protected = du(target) - from_targets
    entry = du(store / "0" / "0entry")
    budget = protected + du(store) - 2 * entry  # room for all but two entries
    result = gc_json(built, "--max-size", str(budget))
    gone = sorted(r["path"] for r in result["removals"] if "compiler cache" in r["reason"])  # type: ignore[union-attr, index]
    assert gone == [str(store / "0" / "0entry"), str(store / "1" / "1entry")]
    assert sorted(p.name for p in store.rglob("*entry")) == [f"{n:x}entry" for n in range(2, 6)]
    assert du(target) + du(store) <= budget
    # what the last builds use is still there: they compile nothing
    assert _compiled(built, "build") == []


@pytest.fixture
def keyed(tmp_path: Path) -> Path:
    """A keyed store of compiled dependencies of this test's own: six entries of 1 MiB, used
    (a hit touches the manifest) an hour apart, the oldest first; all within the period."""
    keyed = tmp_path / "cache" / "keyed"
    now = time.time()
    for n in range(6):
        entry = keyed / f"{n:02x}" / (f"{n:02x}" * 32)
        (entry / "f").mkdir(parents=True)
        (entry / "f" / f"libdep{n}-0123.rmeta").write_bytes(os.urandom(1 << 20))
        (entry / "manifest").write_text("out\t/x\nend\n")
        used = now - (6 - n) * 3600
        os.utime(entry / "manifest", (used, used))
    return keyed


def test_max_size_counts_the_keyed_store_and_trims_its_least_recently_used_entries(
    built: Path, keyed: Path
) -> None:
    target = built / "target"
    dry = gc_json(built, "--max-size", "1", "--dry-run")["removals"]
    from_targets = sum(r["bytes"] for r in dry if "keyed store" not in r["reason"])  # type: ignore[union-attr, index]
    protected = du(target) - from_targets
    budget = protected + du(keyed) - 2 * (1 << 20)  # room for all but two entries
    result = gc_json(built, "--max-size", str(budget))
    gone = sorted(r["path"] for r in result["removals"] if "keyed store" in r["reason"])  # type: ignore[union-attr, index]
    assert gone == [str(keyed / "00" / ("00" * 32)), str(keyed / "01" / ("01" * 32))]
    assert sorted(p.name[:2] for p in keyed.glob("*/*") if p.is_dir()) == [
        f"{n:02x}" for n in range(2, 6)
    ]
    # without a budget, entries used within the period stay
    again = gc_json(built)
    assert not [r for r in again["removals"] if "keyed store" in r["reason"]]  # type: ignore[index]
    assert _compiled(built, "build") == []


def test_holders_other_versions_built_go_once_unused_for_the_period(
    built: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # each upgrade that changes the holder's source leaves the old holder-<id> (1.5 MB) behind
    folder = tmp_path / "admission"
    folder.mkdir(mode=0o700)
    monkeypatch.setenv("BUILDKIT_ADMISSION_DIR", str(folder))
    current = admission.holder_id(built)
    assert current is not None
    # the home folder's wrapper (`buildkit provision`) runs an older holder: it stays too
    home = tmp_path / "home"
    libexec = home / ".local/share/buildkit/libexec"
    libexec.mkdir(parents=True)
    (libexec / "rustc-wrapper").write_text("#!/bin/sh\nbk_holder_id=dddddddddddddddd\n")
    monkeypatch.setenv("HOME", str(home))
    now = time.time()
    old = now - 40 * 86400  # past gc's default period, 30 days
    planted = {
        f"holder-{current}": (old, old),  # this repository's: stays however old
        "holder-dddddddddddddddd": (old, old),
        "holder-eeeeeeeeeeeeeeee": (now - 1.5 * 86400, old),  # run a day and a half ago
        "holder-aaaaaaaaaaaaaaaa": (old, old),
        "holder-aaaaaaaaaaaaaaaa.failed": (old, old),
        "holder-bbbbbbbbbbbbbbbb": (now, now),  # built lately
        "holder-cccccccccccccccc": (now, old),  # built long ago, run lately (access time)
        "holder-not-a-holder-id": (old, old),
        "slot-000.lock": (old, old),
    }
    for name, (used, built_at) in planted.items():
        (folder / name).write_bytes(b"\x7fELF" + os.urandom(4096))
        os.utime(folder / name, (used, built_at))
    expected = [
        str(folder / "holder-aaaaaaaaaaaaaaaa"),
        str(folder / "holder-aaaaaaaaaaaaaaaa.failed"),
    ]
    dry = gc_json(built, "--dry-run")
    assert sorted(r["path"] for r in dry["removals"] if "holder" in r["reason"]) == expected  # type: ignore[union-attr, index]
    assert sorted(p.name for p in folder.iterdir()) == sorted(planted)
    # a period shorter than the access time's day: a holder run since the day before stays
    short = gc_json(built, "--dry-run", "--older-than", "1d")
    assert sorted(r["path"] for r in short["removals"] if "holder" in r["reason"]) == expected  # type: ignore[union-attr, index]
    done = gc_json(built)
    assert sorted(r["path"] for r in done["removals"] if "holder" in r["reason"]) == expected  # type: ignore[union-attr, index]
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        n for n in planted if not n.startswith("holder-aaaa")
    )


# One package whose library and binary share the crate name `app`: `cargo build` and `cargo test`
# leave four incremental dirs named app-<id> (library, binary, and each one's test harness), all
# of them current.
LIB_AND_BIN = {
    "Cargo.toml": (
        '[package]\nname = "app"\nversion = "0.1.0"\nedition = "2021"\n\n[features]\nloud = []\n'
    ),
    "src/lib.rs": (
        "pub fn greet() -> &'static str {\n"
        '    if cfg!(feature = "loud") { "HI" } else { "hi" }\n}\n'
        "#[test]\nfn lib_test() {\n    assert!(!greet().is_empty());\n}\n"
    ),
    "src/main.rs": 'fn main() {\n    println!("{}", app::greet());\n}\n#[test]\nfn bin_test() {}\n',
    ".gitignore": "/target\n",
}


def test_gc_keeps_every_incremental_dir_a_unit_uses_and_drops_them_with_their_unit(
    tmp_path: Path,
) -> None:
    # Interleaved as an agent does: tests, a build with a feature, a plain build. Every unit of
    # those is on disk, so every incremental dir is some unit's: none goes. The feature build's
    # units, once unused for the period, go, and their dirs with them.
    root = build_file_tree(tmp_path / "ws", LIB_AND_BIN)
    git(root, "init", "-q", "-b", "main")
    debug = root / "target" / "debug"
    cargo(root, "test", "--no-run")
    before_loud = set(debug.rglob("*"))
    cargo(root, "build", "--features", "loud")
    loud = set(debug.rglob("*")) - before_loud
    cargo(root, "build")
    incremental = debug / "incremental"
    dirs = set(incremental.iterdir())
    loud_dirs = {d for d in dirs if d in loud}
    assert len(loud_dirs) == 2 and len(dirs) >= 6, sorted(p.name for p in dirs)
    assert {p.name.rsplit("-", 1)[0] for p in dirs} == {"app"}
    assert not [f for f in doctor_json(root)["findings"] if f["kind"] == "incremental"]  # type: ignore[index]
    kept = gc_json(root, "--keep", "1")
    assert not [p for p in _removed(kept) if "/incremental/" in p]
    assert set(incremental.iterdir()) == dirs
    # the feature build's units unused for 90 days: they go, and so do the dirs they wrote
    for path in loud:
        if path.exists() and ("/.fingerprint/" in str(path) or "/deps/" in str(path)):
            os.utime(path, (OLD, OLD), follow_symlinks=False)
    for d in loud_dirs:
        for inner in [d, *d.rglob("*")]:
            os.utime(inner, (OLD, OLD), follow_symlinks=False)
    result = gc_json(root, "--keep", "1")
    assert {Path(p) for p in _removed(result) if "/incremental/" in p} == loud_dirs
    assert set(incremental.iterdir()) == dirs - loud_dirs
    assert _compiled(root, "test", "--no-run") == []
    assert _compiled(root, "build") == []
