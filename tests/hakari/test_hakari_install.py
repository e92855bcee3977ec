"""init installs cargo-hakari the fastest honest way: a prebuilt binary with `cargo binstall`
when the user has it, otherwise `cargo install --locked`, announced as a compile of several
minutes; the version pinned in ci/pins.yaml either way.

cargo-binstall downloads from GitHub, which this machine cannot reach: a stand-in on PATH
records the arguments cargo passes it. Everything else is the real cargo, offline, with an
empty CARGO_HOME, so the real `cargo install` fails fast instead of compiling for minutes."""

from __future__ import annotations

import stat
import subprocess
from pathlib import Path

import pytest

from buildkit.errors import EnvironmentProblem
from buildkit.pins import pinned_tool
from buildkit.render.hakari import COMPILE_NOTE, HakariStep
from buildkit.render.steps import StepContext
from hakari.hakari_helpers import cargo_only

VERSION = pinned_tool("cargo-hakari")


@pytest.fixture
def bin_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """cargo and rustc on PATH, no cargo-hakari or cargo-binstall, an empty CARGO_HOME and
    HOME, and no network."""
    return cargo_only(tmp_path, monkeypatch, "cargo-home")


def binstall_stand_in(bin_dir: Path, *, works: bool) -> Path:
    """A `cargo-binstall` that records its arguments; when it `works`, it leaves what the real
    one would: a cargo-hakari of the requested version on PATH."""
    record = bin_dir.parent / "binstall-args"
    # What the download would be: a cargo-hakari that answers `cargo hakari --version`.
    download = bin_dir.parent / "downloaded-cargo-hakari"
    download.write_text(f"#!/bin/sh\necho 'cargo-hakari {VERSION}'\n")
    download.chmod(0o755)
    install = f"cp '{download}' '{bin_dir}/cargo-hakari'"
    script = bin_dir / "cargo-binstall"
    script.write_text(
        "#!/bin/sh\n"
        f"printf '%s\\n' \"$@\" > '{record}'\n"
        + (f"{install}\nexit 0\n" if works else "echo 'cannot reach github.com' >&2\nexit 1\n")
    )
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return record


def test_with_cargo_binstall_a_prebuilt_binary_is_installed(tmp_path: Path, bin_dir: Path) -> None:
    record = binstall_stand_in(bin_dir, works=True)
    lines: list[str] = []
    prepare_and_keep(tmp_path, lines)
    # cargo runs `cargo-binstall binstall ARGS`: the pinned version, never compiled here.
    assert record.read_text().splitlines() == [
        "binstall",
        "--no-confirm",
        "--locked",
        f"cargo-hakari@{VERSION}",
    ]
    assert lines == [
        f"hakari: installing cargo-hakari {VERSION}, a prebuilt binary, with "
        f"`cargo binstall --no-confirm --locked cargo-hakari@{VERSION}`"
    ]
    assert COMPILE_NOTE not in lines
    done = subprocess.run(["cargo", "hakari", "--version"], capture_output=True, text=True)
    assert done.stdout.strip() == f"cargo-hakari {VERSION}"


def test_when_binstall_fails_it_compiles_and_says_how_long(tmp_path: Path, bin_dir: Path) -> None:
    record = binstall_stand_in(bin_dir, works=False)
    lines: list[str] = []
    with pytest.raises(EnvironmentProblem, match="nothing was written"):
        prepare_and_keep(tmp_path, lines)
    assert record.read_text().splitlines()[-1] == f"cargo-hakari@{VERSION}"
    assert lines == [
        f"hakari: installing cargo-hakari {VERSION}, a prebuilt binary, with "
        f"`cargo binstall --no-confirm --locked cargo-hakari@{VERSION}`",
        f"hakari: `cargo binstall --no-confirm --locked cargo-hakari@{VERSION}` failed (exit 1)",
        COMPILE_NOTE,
    ]


def test_without_binstall_one_line_before_the_compile_says_it_takes_minutes(
    tmp_path: Path, bin_dir: Path
) -> None:
    lines: list[str] = []
    # The real `cargo install`, offline here, fails at once; the line came before it.
    with pytest.raises(EnvironmentProblem, match=f"cargo install --locked cargo-hakari@{VERSION}"):
        prepare_and_keep(tmp_path, lines)
    assert lines == [COMPILE_NOTE]
    assert "usually takes several minutes" in COMPILE_NOTE
    assert f"`cargo install --locked cargo-hakari@{VERSION}`" in COMPILE_NOTE


def prepare_and_keep(root: Path, lines: list[str]) -> None:
    HakariStep(package="workspace-hack", path="workspace-hack").prepare(
        root, StepContext(yes=True, progress=lines.append)
    )
