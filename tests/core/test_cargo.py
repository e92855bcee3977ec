"""The rendered .cargo/config.toml read by real cargo: every key known, every setting in effect."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import run_buildkit


def cargo(
    root: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["cargo", *args],
        cwd=root,
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "CARGO_TERM_COLOR": "never", **(env or {})},
    )


def cargo_config(root: Path, key: str) -> object:
    """What cargo itself reads from its config files (`cargo config get`, unstable on stable)."""
    got = cargo(
        root,
        "-Zunstable-options",
        "config",
        "get",
        "--format",
        "json-value",
        key,
        env={"RUSTC_BOOTSTRAP": "1"},
    )
    assert got.returncode == 0, got.stderr
    return json.loads(got.stdout)


def init_with(root: Path, cargo_section: str) -> None:
    (root / "buildkit.yaml").write_text("version: 1\nhakari:\n  enabled: false\n" + cargo_section)
    ran = run_buildkit("init", root)
    assert ran.exit_code == 0, ran.stderr


def rustc_lines(build_output: str, crate: str) -> str:
    lines = [line for line in build_output.splitlines() if f"--crate-name {crate} " in line]
    assert lines, f"no rustc invocation for {crate}"
    return lines[0]


def test_build_has_no_unused_key_warning_and_dependency_debug_applies(example: Path) -> None:
    init_with(example, "")
    built = cargo(example, "build", "-v")
    assert built.returncode == 0, built.stderr
    assert "unused config key" not in built.stderr
    assert "warning" not in built.stderr.lower()
    # profile.dev.package."*" reaches the non-member dependency only.
    assert "-C debuginfo=line-tables-only" in rustc_lines(built.stderr, "tinyhash")
    assert "-C debuginfo=2" in rustc_lines(built.stderr, "greet")


def test_jobs_incremental_and_build_dir_are_what_cargo_reads(example: Path) -> None:
    init_with(
        example,
        "cargo:\n  jobs: 1\n  incremental: false\n  build_dir: build-cache\n"
        "  dependency_debug: none\n",
    )
    assert cargo_config(example, "build.jobs") == 1
    assert cargo_config(example, "build.incremental") is False
    built = cargo(example, "build", "-v")
    assert built.returncode == 0, built.stderr
    assert "unused config key" not in built.stderr
    tinyhash = rustc_lines(built.stderr, "tinyhash")
    assert "-C debuginfo=" not in tinyhash and "-C strip=debuginfo" in tinyhash
    # build-dir: intermediate artifacts moved out of target/, final binaries stayed.
    assert list((example / "build-cache").rglob("*.rlib")), "deps compiled into build.build-dir"
    assert (example / "target" / "debug" / "hello").is_file()
    assert not list((example / "target").rglob("incremental/*"))


def test_lld_linker_links_for_real(example: Path) -> None:
    assert shutil.which("ld.lld"), "dev/setup.d/15-linkers.sh installs lld"
    init_with(example, "cargo:\n  linker: lld\n")
    built = cargo(example, "build", "-v")
    assert built.returncode == 0, built.stderr
    assert "-C link-arg=-fuse-ld=lld" in rustc_lines(built.stderr, "hello")
    comment = subprocess.run(
        ["readelf", "-p", ".comment", str(example / "target/debug/hello")],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "LLD" in comment, comment


@pytest.mark.parametrize("linker", ["mold"])
def test_a_linker_that_is_not_installed_is_refused(example: Path, linker: str) -> None:
    if shutil.which(linker):
        pytest.fail(f"this test needs a machine without {linker}")
    (example / "buildkit.yaml").write_text(f"version: 1\ncargo:\n  linker: {linker}\n")
    ran = run_buildkit("render", example)
    assert ran.exit_code == 2
    assert f"cargo.linker is '{linker}'" in ran.stderr
    assert not (example / ".cargo").exists()
