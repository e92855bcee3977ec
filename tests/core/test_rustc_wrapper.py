"""The rendered rustc wrapper decides, per compile, between the compiler cache and rustc.

A recording stand-in for sccache shows what the wrapper hands it (the real sccache is in the
loop in tests/cq/test_isolation.py and tests/agents/test_sandbox.py); rustc is the real one
where a compile must really happen. Run with dash and bash."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from conftest import run_buildkit

SHELLS = ("dash", "bash")
# cargo's own argument shapes for each kind of compile (abridged)
DIRECT = {
    "incremental": ["--crate-type", "lib", "--emit=dep-info,metadata,link", "-C", "incremental=/x"],
    "check": ["--crate-type", "lib", "--emit=dep-info,metadata"],
    "binary": ["--crate-type", "bin", "--emit=dep-info,link"],
    "proc-macro": ["--crate-type", "proc-macro", "--emit=dep-info,link"],
    "test": ["--test", "--emit=dep-info,link"],
    "probe": ["-vV"],
}
CACHEABLE = ["--crate-type", "lib", "--emit=dep-info,metadata,link", "-C", "opt-level=0"]


@pytest.fixture
def wrapper(example: Path) -> Path:
    ran = run_buildkit("init", "--yes", "--no-probes", example)
    assert ran.exit_code == 0, ran.stderr
    return example / ".config" / "buildkit" / "bin" / "rustc-wrapper"


def stand_in(tmp_path: Path, exit_code: int = 0) -> tuple[Path, Path]:
    """An sccache that records its arguments and SCCACHE_* settings, then exits."""
    log = tmp_path / "sccache.log"
    fake = tmp_path / "fake-sccache"
    fake.write_text(
        "#!/bin/sh\n"
        f'printf "%s|%s|%s\\n" "$*" "$SCCACHE_DIR" "${{CARGO_INCREMENTAL-unset}}" >> {log}\n'
        f"exit {exit_code}\n"
    )
    fake.chmod(0o755)
    return fake, log


def run(shell: str, wrapper: Path, args: list[str], **env: str) -> subprocess.CompletedProcess[str]:
    full = {**os.environ, **env}
    return subprocess.run(
        [shell, str(wrapper), "echo", "RUSTC", *args],
        env=full,
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.mark.parametrize("shell", SHELLS)
def test_compiles_the_cache_cannot_keep_go_straight_to_rustc(
    wrapper: Path, tmp_path: Path, shell: str
) -> None:
    fake, log = stand_in(tmp_path)
    for kind, args in DIRECT.items():
        done = run(shell, wrapper, args, BUILDKIT_SCCACHE=str(fake))
        assert done.returncode == 0 and done.stdout.startswith("RUSTC"), (kind, done.stderr)
    assert not log.exists(), log.read_text()


@pytest.mark.parametrize("shell", SHELLS)
def test_a_cacheable_compile_goes_to_sccache_with_a_private_store(
    wrapper: Path, tmp_path: Path, shell: str
) -> None:
    fake, log = stand_in(tmp_path)
    cache = tmp_path / "c"
    done = run(
        shell,
        wrapper,
        CACHEABLE,
        BUILDKIT_SCCACHE=str(fake),
        BUILDKIT_CACHE_DIR=str(cache),
        CARGO_INCREMENTAL="1",
    )
    assert done.returncode == 0, done.stderr
    (line,) = log.read_text().splitlines()
    command, store, incremental = line.split("|")
    assert command == "echo RUSTC " + " ".join(CACHEABLE)
    assert store == f"{cache}/store"
    assert incremental == "unset"  # sccache refuses every compile while it is 1
    assert oct(cache.stat().st_mode & 0o777) == "0o700"


@pytest.mark.parametrize("shell", SHELLS)
def test_without_the_cache_it_compiles_directly(wrapper: Path, tmp_path: Path, shell: str) -> None:
    fake, log = stand_in(tmp_path)
    off = run(shell, wrapper, CACHEABLE, BUILDKIT_SCCACHE=str(fake), BUILDKIT_CACHE="off")
    missing = run(shell, wrapper, CACHEABLE, BUILDKIT_SCCACHE=str(tmp_path / "none"))
    others = tmp_path / "not-mine"
    others.mkdir(mode=0o755)
    os.chown(others, 65534, 65534)  # another user's directory: never used
    foreign = run(
        shell, wrapper, CACHEABLE, BUILDKIT_SCCACHE=str(fake), BUILDKIT_CACHE_DIR=str(others)
    )
    for done in (off, missing, foreign):
        assert done.returncode == 0 and done.stdout.startswith("RUSTC"), done.stderr
    assert not log.exists()


@pytest.mark.parametrize("shell", SHELLS)
def test_when_sccache_cannot_serve_the_compile_rustc_does(
    wrapper: Path, tmp_path: Path, shell: str
) -> None:
    fake, log = stand_in(tmp_path, exit_code=2)  # sccache's own failure (a server that won't start)
    done = run(shell, wrapper, CACHEABLE, BUILDKIT_SCCACHE=str(fake))
    assert done.returncode == 0 and done.stdout.startswith("RUSTC"), done.stderr
    assert log.exists()
    (tmp_path / "one").mkdir()
    compile_error, _ = stand_in(tmp_path / "one", exit_code=1)  # a compile error stays one
    failed = run(shell, wrapper, CACHEABLE, BUILDKIT_SCCACHE=str(compile_error))
    assert failed.returncode == 1 and failed.stdout == ""
