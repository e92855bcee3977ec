"""doctor's duplicates are real duplicates, read from Cargo's own fingerprint records.

Every target dir here is written by real cargo (1.95 stable for the classic layout, the
installed nightly with ``-Zbuild-dir-new-layout`` for the one-folder-per-unit layout).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from doctor.doctor_helpers import cargo, cargo_env, doctor_json, find, gc_json, make_repo


def _only_target(data: dict[str, Any]) -> dict[str, Any]:
    targets: list[dict[str, Any]] = data["target_dirs"]
    assert len(targets) == 1, [t["path"] for t in targets]
    return targets[0]


def _git_init(root: Path) -> None:
    for args in (
        ["init", "-q", "-b", "main"],
        ["add", "-A"],
        ["-c", "user.name=t", "-c", "user.email=t@example.invalid", "commit", "-qm", "x"],
    ):
        subprocess.run(["git", "-C", str(root), *args], check=True, capture_output=True)


def test_debug_release_and_check_are_not_duplicates(example: Path) -> None:
    _git_init(example)
    for args in (["build"], ["build", "--release"], ["check"], ["test", "--no-run"]):
        cargo(example, *args)
    data = doctor_json(example)
    t = _only_target(data)
    assert t["duplicates"] == []
    assert not [f for f in data["findings"] if f["kind"] == "duplicates"]
    # the same library really is there in several compiled forms
    greet = find(example / "target", "-path", "*/deps/*", "-name", "libgreet-*.r*")
    assert len({re.sub(r"\.r(lib|meta)$", "", p) for p in greet}) >= 3


def test_a_feature_split_is_reported_with_its_cause(built: Path) -> None:
    data = doctor_json(built)
    t = _only_target(data)
    core = [d for d in t["duplicates"] if d["crate"] == "core_lib" and d["mode"] == "build"]
    assert len(core) == 1, t["duplicates"]
    rlibs = find(built / "target" / "debug" / "deps", "-name", "libcore_lib-*.rlib")
    hashes = {re.search(r"-([0-9a-f]{16})\.rlib$", p)[1] for p in rlibs}  # type: ignore[index]
    assert set(core[0]["hashes"]) == hashes and len(hashes) >= 3  # a, b and a+b
    assert core[0]["causes"] == ["feature mix"]
    finding = next(f for f in data["findings"] if f.get("cause") == "feature mix")
    assert "cargo-hakari" in finding["recommendation"]
    assert finding["bytes"] == 0  # rebuilding is what hakari saves, not bytes gc can free


def test_incremental_policy_is_named_as_the_cause(tmp_path: Path) -> None:
    root = make_repo(tmp_path / "ws")
    env = cargo_env()
    for incremental in ("1", "0"):
        env["CARGO_INCREMENTAL"] = incremental
        subprocess.run(["cargo", "build", "-q", "-p", "app1"], cwd=root, env=env, check=True)
    t = _only_target(doctor_json(root))
    causes = {d["crate"]: d["causes"] for d in t["duplicates"]}
    assert causes == {
        "core_lib": ["incremental on/off (cq's incremental policy) or profile settings"]
    }
    # buildkit's own policy makes these copies: listed, never a finding to fix (issue 21)
    data = doctor_json(root)
    assert not [f for f in data["findings"] if f["kind"] == "duplicates"], data["findings"]


def test_from_a_member_directory(built: Path) -> None:
    data = doctor_json(built / "app1" / "src")
    assert data["root"] == str(built)
    assert _only_target(data)["path"] == str(built / "target")


def _nightly(root: Path, *args: str) -> None:
    subprocess.run(
        ["cargo", "+nightly", "-Zbuild-dir-new-layout", *args, "--quiet"],
        cwd=root,
        env=cargo_env(),
        check=True,
    )


def test_one_folder_per_unit_layout(tmp_path: Path) -> None:
    """The layout Cargo 1.100 stabilises, written by the installed nightly cargo."""
    root = make_repo(tmp_path / "ws")
    _nightly(root, "build", "-p", "app1")
    _nightly(root, "build", "-p", "app2")
    target = root / "target"
    unit_dirs = find(target / "debug" / "build", "-mindepth", "2", "-maxdepth", "2", "-type", "d")
    assert unit_dirs and not (target / "debug" / "deps").exists()
    strange = target / "debug" / "build" / "not-a-unit"
    strange.mkdir()
    (strange / "keep.txt").write_text("mine")

    data = doctor_json(root)
    t = _only_target(data)
    assert t["layouts"] == ["unit-dir"]
    assert t["units"] == len(unit_dirs)
    core = [d for d in t["duplicates"] if d["crate"] == "core_lib"]
    assert len(core) == 1 and core[0]["causes"] == ["feature mix"]
    assert {h for d in core for h in d["hashes"]} == {
        Path(p).name for p in unit_dirs if "/core-lib/" in p
    }
    assert str(strange) in t["unrecognised"]
    assert any(f["kind"] == "unrecognised_layout" for f in data["findings"])
    # each incremental dir belongs to its unit in this layout too: both of core_lib's feature
    # mixes are on disk, so gc --keep 1 takes none of their dirs
    incremental = sorted((target / "debug" / "incremental").iterdir())
    assert len([d for d in incremental if d.name.startswith("core_lib-")]) == 2
    kept = gc_json(root, "--keep", "1")
    assert not [r for r in kept["removals"] if "/incremental/" in r["path"]]
    assert sorted((target / "debug" / "incremental").iterdir()) == incremental

    result = gc_json(root, "--older-than", "0s", "--keep", "0")
    removed = {r["path"] for r in result["removals"] if r["error"] is None}
    assert set(unit_dirs) <= removed  # whole unit folders
    assert (strange / "keep.txt").read_text() == "mine"
    _nightly(root, "build", "-p", "app1")
    assert (target / "debug" / "app1").is_file()


def test_old_toolchain_units_are_named_and_collected(tmp_path: Path) -> None:
    """Two real toolchains build; rustup's answer is simulated (a `rustup` on PATH that lists
    stable only), so nightly counts as uninstalled without uninstalling anything."""
    root = make_repo(tmp_path / "ws")
    subprocess.run(
        ["cargo", "+nightly", "build", "-q", "-p", "app1"], cwd=root, env=cargo_env(), check=True
    )
    cargo(root, "build", "-p", "app1")
    stable = subprocess.run(
        ["rustc", "+stable", "--print", "sysroot"], capture_output=True, text=True, check=True
    ).stdout.strip()
    fake = tmp_path / "fakebin"
    fake.mkdir()
    (fake / "rustup").write_text(f"#!/bin/sh\necho 'stable (default) {stable}'\n")
    (fake / "rustup").chmod(0o755)
    old_path = os.environ["PATH"]
    os.environ["PATH"] = f"{fake}:{old_path}"
    try:
        data = doctor_json(root)
        t = _only_target(data)
        versions = list(t["toolchains"])
        assert len(versions) == 2 and any("nightly" in v for v in versions), versions
        nightly = next(v for v in versions if "nightly" in v)
        assert t["old_toolchain_bytes"] == t["toolchains"][nightly] > 0
        dup = next(d for d in t["duplicates"] if d["crate"] == "core_lib")
        assert dup["causes"] == ["old toolchain"]
        result = gc_json(root, "--keep", "100")
    finally:
        os.environ["PATH"] = old_path
    gone = [r for r in result["removals"] if "no longer installed" in r["reason"]]
    assert gone and all(r["error"] is None for r in gone)
    after = _only_target(doctor_json(root))
    assert list(after["toolchains"]) == [v for v in versions if "nightly" not in v]
    ran = subprocess.run(
        ["cargo", "build", "-v", "-p", "app1"],
        cwd=root,
        env=cargo_env(),
        capture_output=True,
        text=True,
        check=True,
    )
    assert "Compiling" not in ran.stderr  # the stable build was left whole


def test_a_build_dir_outside_the_worktree(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """build.build-dir with Cargo's templates: doctor asks cargo metadata where it is."""
    cargo_home = tmp_path / "cargo-home"
    cargo_home.mkdir()
    monkeypatch.setenv("CARGO_HOME", str(cargo_home))  # never the machine's own
    root = make_repo(tmp_path / "ws")
    (root / ".cargo").mkdir()
    (root / ".cargo" / "config.toml").write_text(
        '[build]\nbuild-dir = "{cargo-cache-home}/build/{workspace-path-hash}"\n'
    )
    cargo(root, "build", "-p", "app1")
    cargo(root, "build", "-p", "app2")
    (build_dir,) = [p for p in (cargo_home / "build").glob("*/*") if p.is_dir()]
    data = doctor_json(root)
    found = {t["path"]: t for t in data["target_dirs"]}
    assert set(found) == {str(root / "target"), str(build_dir)}
    inside = found[str(build_dir)]
    assert inside["found_by"] == "build-dir"
    assert inside["units"] == len(
        find(build_dir / "debug" / ".fingerprint", "-mindepth", "1", "-maxdepth", "1")
    )
    assert [d["crate"] for d in inside["duplicates"]] == ["core_lib"]
    # the whole workspace built last: the units only `build -p app1` and `-p app2` used are
    # what a budget may take, from the build dir
    cargo(root, "build")
    result = gc_json(root, "--max-size", "1")
    assert any(r["target_dir"] == str(build_dir) for r in result["removals"])
    assert _compiled_nothing(root, "build")


def _compiled_nothing(root: Path, *args: str) -> bool:
    ran = subprocess.run(
        ["cargo", *args, "-v"], cwd=root, env=cargo_env(), capture_output=True, text=True
    )
    assert ran.returncode == 0, ran.stderr
    return "Compiling" not in ran.stderr


def test_without_rustup_the_rustc_on_path_is_the_only_toolchain(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from buildkit.diagnose import toolchains

    rustc = shutil.which("rustc")
    assert rustc is not None
    only = tmp_path / "only-rustc"
    only.mkdir()
    (only / "rustc").symlink_to(rustc)
    monkeypatch.setenv("PATH", f"{only}{os.pathsep}/usr/bin{os.pathsep}/bin")
    assert shutil.which("rustup") is None
    version = subprocess.run(
        [str(only / "rustc"), "-V"], capture_output=True, text=True, check=True
    ).stdout.strip()
    found = toolchains.installed()
    assert found.source == "rustc on PATH"
    assert found.versions == frozenset({version})
