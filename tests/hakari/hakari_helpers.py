"""A PATH with cargo and rustc only (no cargo-hakari, no cargo-binstall, no sccache), an empty
CARGO_HOME and HOME of the test's own, and no network: what a machine without buildkit's
tools looks like to init and render."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest


def cargo_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cargo_home: str) -> Path:
    """Set it up in the test's environment; returns the PATH folder holding cargo and rustc."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("cargo", "rustc"):
        found = shutil.which(tool)
        assert found, f"{tool} is not on PATH"
        (bin_dir / tool).symlink_to(found)
    if "RUSTUP_HOME" not in os.environ:
        monkeypatch.setenv("RUSTUP_HOME", str(Path.home() / ".rustup"))
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}/usr/bin{os.pathsep}/bin")
    monkeypatch.setenv("CARGO_HOME", str(tmp_path / cargo_home))
    # nothing init installs (the compiler cache into ~/.local/share) reaches the real home
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("CARGO_NET_OFFLINE", "true")
    assert subprocess.run(["cargo", "hakari", "--version"], capture_output=True).returncode != 0
    return bin_dir
