"""One file for a dependency's compiled unit, however many worktrees build it (issue 21).

The rustc wrapper keeps a crates.io unit's outputs in `<cache dir>/keyed/` and puts them back in
another worktree: the `.rlib` as a hard link to the one copy, the `.rmeta` as the worktree's own
file so that cargo's freshness decisions (by the newest output's modification time) stay what
they would be without the link. Real cargo and the rendered wrapper, on cargo 1.95's layout and
on the new one (tests/cq/test_keyed_units.py has what the key covers).
The shared unit is anyhow: a crates.io crate with a build script, whose run (each worktree's own)
is a dependency of the unit, so a wrong modification time on the unit shows as a rebuild.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from conftest import build_file_tree, run_buildkit
from cq.cq_helpers import cq_env, git
from cq.test_isolation import LAYOUTS, render_buildkit

FILES = {
    "Cargo.toml": (
        '[package]\nname = "app"\nversion = "0.1.0"\nedition = "2021"\n\n'
        '[dependencies]\nanyhow = "1"\n'
    ),
    ".gitignore": "/target\n",
    "src/main.rs": 'fn main() -> anyhow::Result<()> {\n    println!("app ok");\n    Ok(())\n}\n',
}


@dataclass
class Rig:
    checkouts: dict[str, Path]
    env: dict[str, str]
    toolchain: list[str]

    def cargo(self, name: str, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["cargo", *self.toolchain, *args],
            cwd=self.checkouts[name],
            env={**self.env, **env},
            capture_output=True,
            text=True,
            timeout=600,
        )

    def build(self, name: str) -> None:
        done = self.cargo(name, "build", "-q")
        assert done.returncode == 0, done.stderr
        program = self.checkouts[name] / "target" / "debug" / "app"
        ran = subprocess.run([str(program)], capture_output=True, text=True, timeout=60)
        assert ran.stdout == "app ok\n"


def make_rig(tmp_path: Path, layout: str) -> Rig:
    main = tmp_path / "repo" / "main"
    build_file_tree(main, FILES)
    git(main, "init", "-q", "-b", "main")
    # the lock file from the machine's cargo cache when it has anyhow, else from crates.io
    offline = subprocess.run(["cargo", "generate-lockfile", "--offline", "-q"], cwd=main)
    if offline.returncode != 0:
        subprocess.run(["cargo", "generate-lockfile", "-q"], cwd=main, check=True, timeout=300)
    subprocess.run(["cargo", "fetch", "-q"], cwd=main, check=True, timeout=300)
    render_buildkit(main)
    git(main, "add", "-A")
    git(main, "commit", "-q", "-m", "app")
    twin = tmp_path / "repo" / "twin"
    git(main, "worktree", "add", "-q", "--detach", str(twin))
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    toolchain, layout_env = LAYOUTS[layout]
    env = cq_env(state, CARGO_NET_OFFLINE="true", **layout_env)
    return Rig({"main": main, "twin": twin}, env, toolchain)


def _unit_files(checkout: Path, suffix: str) -> list[Path]:
    """anyhow's compiled outputs in this worktree, wherever the layout puts them."""
    found = (checkout / "target").rglob(f"libanyhow-*{suffix}")
    return sorted(p for p in found if "incremental" not in p.parts)


def _not_fresh(rig: Rig, name: str) -> list[str]:
    done = rig.cargo(name, "build", "-v")
    assert done.returncode == 0, done.stderr
    return [line for line in done.stderr.splitlines() if "Dirty" in line or "Compiling" in line]


def _built_in_both(tmp_path: Path, layout: str = "current") -> tuple[Rig, Path, Path]:
    rig = make_rig(tmp_path, layout)
    rig.build("main")
    rig.build("twin")
    (main_rlib,) = _unit_files(rig.checkouts["main"], ".rlib")
    (twin_rlib,) = _unit_files(rig.checkouts["twin"], ".rlib")
    return rig, main_rlib, twin_rlib


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_a_dependency_built_in_two_worktrees_is_one_file(tmp_path: Path, layout: str) -> None:
    rig, main_rlib, twin_rlib = _built_in_both(tmp_path, layout)
    assert main_rlib.stat().st_ino == twin_rlib.stat().st_ino, "anyhow's .rlib is two files"
    copies = list((Path(os.environ["BUILDKIT_CACHE_DIR"]) / "keyed").rglob("*"))
    assert any(p.is_file() and p.stat().st_ino == main_rlib.stat().st_ino for p in copies)
    # the .rmeta stays each worktree's own, and so nothing is rebuilt, in either order
    (main_rmeta,) = _unit_files(rig.checkouts["main"], ".rmeta")
    (twin_rmeta,) = _unit_files(rig.checkouts["twin"], ".rmeta")
    assert main_rmeta.stat().st_ino != twin_rmeta.stat().st_ino
    assert _not_fresh(rig, "main") == []
    assert _not_fresh(rig, "twin") == []


def test_control_a_shared_rmeta_makes_cargo_rebuild(tmp_path: Path) -> None:
    # Why the .rmeta is not linked: one inode has one modification time, so the worktree that
    # built last sees its unit older than the unit's own build-script run, and rebuilds.
    # Linking it by hand here must make the freshness check above fail.
    rig, _main_rlib, twin_rlib = _built_in_both(tmp_path)
    (main_rmeta,) = _unit_files(rig.checkouts["main"], ".rmeta")
    (twin_rmeta,) = _unit_files(rig.checkouts["twin"], ".rmeta")
    old = (1_000_000_000, 1_000_000_000)  # built long before the twin's build script ran
    os.utime(main_rmeta, old)
    os.utime(twin_rlib, old)
    twin_rmeta.unlink()
    os.link(main_rmeta, twin_rmeta)
    assert _not_fresh(rig, "twin") != []


def test_a_recompile_never_writes_into_the_shared_copy(tmp_path: Path) -> None:
    rig, main_rlib, twin_rlib = _built_in_both(tmp_path)
    before = (main_rlib.stat().st_ino, main_rlib.read_bytes())
    # the twin compiles anyhow again (`cargo clean -p` drops its unit), through the cache (a
    # hit, put back from the keyed store) and then past it (rustc itself)
    for cache in ("on", "off"):
        assert rig.cargo("twin", "clean", "-q", "-p", "anyhow").returncode == 0
        assert not twin_rlib.exists()
        rig.env["BUILDKIT_CACHE"] = cache
        rig.build("twin")
        assert (main_rlib.stat().st_ino, main_rlib.read_bytes()) == before
        assert twin_rlib.read_bytes() == before[1]


@pytest.fixture
def own_cache(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A compiler cache of this test alone: the session's is linked from other tests' dirs."""
    directory = Path(tempfile.mkdtemp(prefix="bk-units-"))
    monkeypatch.setenv("BUILDKIT_CACHE_DIR", str(directory))
    yield directory
    env = {**os.environ, "SCCACHE_SERVER_UDS": str(directory / "sock")}
    subprocess.run(["sccache", "--stop-server"], env=env, capture_output=True, check=False)
    shutil.rmtree(directory, ignore_errors=True)


def test_gc_removes_an_entry_not_used_for_the_period_and_nothing_a_build_uses(
    tmp_path: Path, own_cache: Path
) -> None:
    rig, main_rlib, _twin_rlib = _built_in_both(tmp_path)
    keyed = own_cache / "keyed"
    inode = main_rlib.stat().st_ino
    (copy,) = [p for p in keyed.rglob("*.rlib") if p.stat().st_ino == inode]
    entry = copy.parent.parent
    doctor = run_buildkit("doctor", "--json", rig.checkouts["main"])
    assert doctor.exit_code == 0, doctor.stderr
    cache = json.loads(doctor.stdout)["cache"]
    assert cache["keyed_entries"] >= 2  # anyhow and its build script
    ran = run_buildkit("gc", "--no-queue", rig.checkouts["main"])
    assert ran.exit_code == 0, ran.stderr
    assert copy.exists(), "gc removed an entry the last build used"
    # not used for the period (a hit touches the manifest)
    for manifest in keyed.glob("*/*/manifest"):
        os.utime(manifest, (1_000_000_000, 1_000_000_000))
    # and what a save killed half-way left, once an hour old (a younger one may be in progress)
    leftovers = [keyed / ".new-0123-1", keyed / ".new-4567-2"]
    for leftover in leftovers:
        (leftover / "f").mkdir(parents=True)
        (leftover / "f" / "libx.rmeta").write_bytes(b"x" * 10_000)
    os.utime(leftovers[0], (1_000_000_000, 1_000_000_000))
    dry = run_buildkit("gc", "--no-queue", "--dry-run", rig.checkouts["main"])
    assert dry.exit_code == 0 and copy.exists()
    assert str(entry) in dry.stdout and str(leftovers[0]) in dry.stdout
    assert str(leftovers[1]) not in dry.stdout
    ran = run_buildkit("gc", "--no-queue", rig.checkouts["main"])
    assert ran.exit_code == 0, ran.stderr
    assert not entry.exists()
    assert not leftovers[0].exists() and leftovers[1].exists()
    # the worktrees' own links stay, and both still build without compiling anything
    assert main_rlib.exists() and main_rlib.stat().st_ino == inode
    assert _not_fresh(rig, "main") == []
    assert _not_fresh(rig, "twin") == []


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_a_dependencys_check_is_compiled_once_for_both_worktrees(
    tmp_path: Path, own_cache: Path, layout: str
) -> None:
    rig = make_rig(tmp_path, layout)
    rig.env["BUILDKIT_CACHE_DIR"] = str(own_cache)
    done = rig.cargo("main", "check", "-q")
    assert done.returncode == 0, done.stderr
    manifests = list((own_cache / "keyed").glob("*/*/manifest"))
    kept = [m for m in manifests if "file\tlibanyhow-" in m.read_text()]
    assert len(kept) == 1  # anyhow, metadata only
    os.utime(kept[0], (1_000_000_000, 1_000_000_000))
    done = rig.cargo("twin", "check", "-q")
    assert done.returncode == 0, done.stderr
    assert kept[0].stat().st_mtime > 1_000_000_000, "the twin compiled anyhow again"
    assert len(list((own_cache / "keyed").glob("*/*/manifest"))) == len(manifests)
    # anyhow's build script probes rustc through the wrapper (RUSTC_WRAPPER): a compile the
    # store does not keep, which goes to rustc alone, so no sccache server was started
    assert not list(own_cache.glob("sock*")), "a compile went to sccache"
    # each worktree has its own .rmeta of it: nothing is linked, and both stay fresh
    (main_rmeta,) = _unit_files(rig.checkouts["main"], ".rmeta")
    (twin_rmeta,) = _unit_files(rig.checkouts["twin"], ".rmeta")
    assert main_rmeta.stat().st_ino != twin_rmeta.stat().st_ino
    for name in rig.checkouts:
        verbose = rig.cargo(name, "check", "-v")
        assert "Compiling" not in verbose.stderr and "Dirty" not in verbose.stderr, name
