"""A render that cannot complete changes no file: a read-only bind mount, an immutable file and
a full disk, each for real (root can do all three; CI runs as root), each exit 1 with one line
and every file byte-identical to before, no temporary file left behind."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import EXAMPLE, run_buildkit

CHANGES = "cq:\n  grace_seconds: 7\nenv:\n  vars:\n    FOO: bar\ncargo:\n  jobs: 3\n"


@pytest.fixture(autouse=True)
def _needs_root() -> None:
    if os.geteuid() != 0:
        pytest.fail("mount and chattr need root: run these tests as root (CI does)")


def everything(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and "target" not in p.relative_to(root).parts
    }


def prepared(root: Path) -> dict[str, bytes]:
    """A rendered workspace, then a profile change that updates config.toml, the env file and
    scripts/cq (in that order); returns the files as they are before the failing render."""
    shutil.copytree(EXAMPLE, root, dirs_exist_ok=True)
    (root / "buildkit.yaml").write_text("version: 1\nhakari:\n  enabled: false\n")
    ran = run_buildkit("init", root)
    assert ran.exit_code == 0, ran.stderr
    (root / "buildkit.yaml").write_text((root / "buildkit.yaml").read_text() + CHANGES)
    planned = run_buildkit("render", "--dry-run", root).stdout
    for path in (".cargo/config.toml", ".config/buildkit.env", "scripts/cq"):
        assert f"would update: {path}" in planned, planned
    return everything(root)


def assert_refused(root: Path, before: dict[str, bytes], *needles: str) -> None:
    ran = run_buildkit("render", root)
    assert ran.exit_code == 1, ran.stdout + ran.stderr
    lines = ran.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in ran.stderr, ran.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]
    assert everything(root) == before


def sh(*args: str) -> None:
    subprocess.run(args, check=True, capture_output=True)


@contextlib.contextmanager
def mounted(*setup: list[str], target: Path) -> Iterator[None]:
    for command in setup:
        sh(*command)
    try:
        yield
    finally:
        subprocess.run(["umount", "-l", str(target)], check=False, capture_output=True)


def test_read_only_bind_mount(tmp_path: Path) -> None:
    root = tmp_path / "ws"
    before = prepared(root)
    scripts = str(root / "scripts")
    with mounted(
        ["mount", "--bind", scripts, scripts],
        ["mount", "-o", "remount,ro,bind", scripts],
        target=root / "scripts",
    ):
        assert_refused(root, before, "scripts/cq: cannot write it: read-only file system")
    assert run_buildkit("render", root).exit_code == 0, "works once the mount is writable"


def test_immutable_file_is_put_back_after_earlier_files_were_replaced(tmp_path: Path) -> None:
    root = tmp_path / "ws"
    before = prepared(root)
    cq = root / "scripts" / "cq"
    sh("chattr", "+i", str(cq))
    try:
        assert_refused(root, before, "scripts/cq: cannot write it: operation not permitted")
    finally:
        sh("chattr", "-i", str(cq))
    assert run_buildkit("render", root).exit_code == 0


def test_full_disk(tmp_path: Path) -> None:
    disk = tmp_path / "disk"
    disk.mkdir()
    with mounted(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(disk)], target=disk):
        root = disk / "ws"
        before = prepared(root)
        filler = disk / "filler"
        with filler.open("wb", buffering=0) as handle, contextlib.suppress(OSError):
            while True:
                handle.write(b"\0" * 4096)
        # Room for the small files, not for scripts/cq (19 kB): the failure comes midway.
        os.truncate(filler, filler.stat().st_size - 12 * 1024)
        before = {**before, **{k: v for k, v in everything(root).items() if k not in before}}
        assert_refused(root, before, "scripts/cq: cannot write it: no space left on device")
        filler.unlink()
        assert run_buildkit("render", root).exit_code == 0


def test_a_first_render_that_fails_leaves_no_folder_or_file_behind(tmp_path: Path) -> None:
    root = tmp_path / "ws"
    shutil.copytree(EXAMPLE, root)
    (root / "buildkit.yaml").write_text("version: 1\nhakari:\n  enabled: false\n")
    (root / "scripts").mkdir()
    before = sorted(str(p.relative_to(root)) for p in root.rglob("*"))
    scripts = str(root / "scripts")
    with mounted(
        ["mount", "--bind", scripts, scripts],
        ["mount", "-o", "remount,ro,bind", scripts],
        target=root / "scripts",
    ):
        ran = run_buildkit("init", root)
        assert ran.exit_code == 1, ran.stdout + ran.stderr
        assert "scripts/cq: cannot write it: read-only file system" in ran.stderr
        assert sorted(str(p.relative_to(root)) for p in root.rglob("*")) == before
