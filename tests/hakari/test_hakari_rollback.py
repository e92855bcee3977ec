"""A render whose `cargo hakari` fails half way leaves every byte and mode of the repository as
it was: the files render wrote are put back, and so is everything cargo-hakari already changed.

The failure is real: a member manifest made immutable (`chattr +i`, which needs root; CI runs
as root) so that `cargo hakari manage-deps` stops with an error when it reaches it, after
`generate` has rewritten the workspace-hack crate and render has written its own files."""

from __future__ import annotations

import os
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import run_buildkit

MEMBERS = ("app-cli", "app-core", "app-db", "app-search", "app-server")
STUCK = "crates/app-server/Cargo.toml"


def everything(root: Path) -> dict[str, tuple[str, int, bytes]]:
    """Every path under root (folders too) with its type, mode and content."""
    found = {}
    for path in sorted(root.rglob("*")):
        info = path.lstat()
        kind = "dir" if stat.S_ISDIR(info.st_mode) else "file"
        content = path.read_bytes() if kind == "file" else b""
        found[str(path.relative_to(root))] = (kind, stat.S_IMODE(info.st_mode), content)
    return found


@pytest.fixture
def stuck_member(seedlike: Path) -> Iterator[Path]:
    """An initialised workspace, then changes for all three writers of a render: buildkit's
    files (an env var), `cargo hakari generate` (a stale workspace-hack) and `manage-deps`
    (members without the workspace-hack dependency), with one member manifest immutable."""
    if os.geteuid() != 0:
        pytest.fail("chattr +i needs root: run these tests as root (CI does)")
    root = seedlike
    (root / "buildkit.yaml").write_text("version: 1\nhakari:\n  enabled: true\n")
    ran = run_buildkit("init", "--yes", root)
    assert ran.exit_code == 0, ran.stderr
    with (root / "buildkit.yaml").open("a") as profile:
        profile.write("env:\n  vars:\n    FOO: bar\n")
    hack = root / "workspace-hack" / "Cargo.toml"
    hack.write_text("".join(ln for ln in hack.read_text().splitlines(True) if "sha2" not in ln))
    for member in MEMBERS:
        manifest = root / "crates" / member / "Cargo.toml"
        lines = manifest.read_text().splitlines(keepends=True)
        manifest.write_text("".join(ln for ln in lines if not ln.startswith("workspace-hack")))
    (root / "crates" / "app-core" / "Cargo.toml").chmod(0o600)  # a mode that must survive
    planned = run_buildkit("render", "--dry-run", root).stdout
    assert "would update: .config/buildkit.env" in planned, planned
    assert "would run: hakari: cargo hakari generate" in planned, planned
    assert "would run: hakari: cargo hakari manage-deps" in planned, planned
    subprocess.run(["chattr", "+i", str(root / STUCK)], check=True)
    try:
        yield root
    finally:
        subprocess.run(["chattr", "-i", str(root / STUCK)], check=True)


def test_a_hakari_failure_half_way_leaves_every_byte_as_before(stuck_member: Path) -> None:
    root = stuck_member
    before = everything(root)
    ran = run_buildkit("render", root)
    assert ran.exit_code == 3, ran.stdout + ran.stderr
    lines = ran.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in ran.stderr, ran.stderr
    assert "cargo hakari manage-deps --yes` failed" in lines[0], lines[0]
    assert STUCK in lines[0], lines[0]
    assert "nothing was changed" in lines[0], lines[0]
    # The render got half way: buildkit's files and the workspace-hack were rewritten before
    # manage-deps failed, and all of it is undone.
    assert everything(root) == before
    # Once the cause is gone, the same render completes.
    subprocess.run(["chattr", "-i", str(root / STUCK)], check=True)
    ran = run_buildkit("render", root)
    assert ran.exit_code == 0, ran.stderr
    assert "regenerated workspace-hack/Cargo.toml" in ran.stdout
    assert "FOO" in (root / ".config" / "buildkit.env").read_text()
    assert run_buildkit("check", root).exit_code == 0
