"""The rendered rustc wrapper decides, per compile, between the compiler cache and rustc.

A recording stand-in for sccache shows what the wrapper hands it (the real sccache is in the
loop in tests/cq/test_isolation.py and tests/agents/test_sandbox.py); rustc is the real one
where a compile must really happen. Run with dash and bash."""

from __future__ import annotations

import os
import shutil
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
        [shutil.which(shell) or shell, str(wrapper), "echo", "RUSTC", *args],
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
        # the workspace's own crate: a check of it is clippy's or the user's, never cached
        own = str(tmp_path / "own")
        done = run(shell, wrapper, args, BUILDKIT_SCCACHE=str(fake), CARGO_MANIFEST_DIR=own)
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


@pytest.mark.parametrize("shell", SHELLS)
def test_a_dependencys_check_goes_to_sccache_and_leaves_its_rlib_alone(
    wrapper: Path, tmp_path: Path, shell: str
) -> None:
    fake, log = stand_in(tmp_path)
    out = tmp_path / "deps"
    out.mkdir()
    rlib = out / "libdep-0123abcd.rlib"
    rlib.write_text("built by cargo build")
    check = ["--crate-name", "dep", "--crate-type", "lib", "--emit=dep-info,metadata"]
    check += ["-C", "extra-filename=-0123abcd", "--out-dir", str(out)]
    done = run(
        shell,
        wrapper,
        check,
        BUILDKIT_KEYED="off",  # the path without the keyed store (also: no perl)
        BUILDKIT_SCCACHE=str(fake),
        BUILDKIT_CACHE_DIR=str(tmp_path / "c"),
        CARGO_MANIFEST_DIR="/h/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/dep-1.0.0",
    )
    assert done.returncode == 0, done.stderr
    (line,) = log.read_text().splitlines()
    assert line.split("|")[0] == "echo RUSTC " + " ".join(check)
    assert rlib.read_text() == "built by cargo build" and rlib.stat().st_nlink == 1
    assert not (tmp_path / "c" / "units").exists()


def compiling_stand_in(tmp_path: Path, in_place: bool = False) -> Path:
    """An sccache that "compiles": writes lib<crate><extra>.rlib and .rmeta into --out-dir, by
    rename as rustc and sccache do, or (``in_place``) by appending to what is there."""
    fake = tmp_path / "compiling-sccache"
    write = (
        'printf "code of %s\\n" "$name" >> "$out/lib$name$extra.rlib"'
        if in_place
        else 'printf "code of %s\\n" "$name" > "$out/.t" && mv "$out/.t" "$out/lib$name$extra.rlib"'
    )
    fake.write_text(
        "#!/bin/sh\n"
        "prev=''\n"
        'for a in "$@"; do\n'
        "  case $prev in\n"
        "    --crate-name) name=$a ;; --out-dir) out=$a ;; -C) extra=${a#extra-filename=} ;;\n"
        "  esac\n"
        "  prev=$a\n"
        "done\n"
        f"{write}\n"
        'printf "meta of %s %s\\n" "$name" "$out" > "$out/lib$name$extra.rmeta"\n'
    )
    fake.chmod(0o755)
    return fake


def lib_compile(out: Path) -> list[str]:
    return [
        "--crate-name",
        "dep",
        "--crate-type",
        "lib",
        "--emit=dep-info,metadata,link",
        "-C",
        "extra-filename=-0123abcd",
        "--out-dir",
        str(out),
    ]


def path_with(tmp_path: Path, *tools: str) -> str:
    """A PATH of only these programs (a machine without the others: macOS has no sha256sum)."""
    bin_dir = tmp_path / f"bin-{'-'.join(tools) or 'none'}"
    bin_dir.mkdir()
    for tool in ("perl", "cmp", "ln", "mv", "rm", "mkdir", "echo", "nproc", *tools):
        found = shutil.which(tool)
        assert found, tool
        (bin_dir / tool).symlink_to(found)
    return str(bin_dir)


@pytest.mark.parametrize("shell", SHELLS)
@pytest.mark.parametrize("hasher", ["sha256sum", "shasum"])
def test_a_dependency_rlib_becomes_one_file_for_every_target_dir(
    wrapper: Path, tmp_path: Path, shell: str, hasher: str
) -> None:
    fake = compiling_stand_in(tmp_path)
    cache = tmp_path / "c"
    outs = [tmp_path / "wt1" / "deps", tmp_path / "wt2" / "deps", tmp_path / "own" / "deps"]
    registry = "/home/u/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/dep-1.0.0"
    for out, manifest_dir in zip(outs, [registry, registry, str(tmp_path / "own")], strict=True):
        out.mkdir(parents=True)
        done = run(
            shell,
            wrapper,
            lib_compile(out),
            BUILDKIT_KEYED="off",  # the path without the keyed store (also: no perl)
            BUILDKIT_SCCACHE=str(fake),
            BUILDKIT_CACHE_DIR=str(cache),
            CARGO_MANIFEST_DIR=manifest_dir,
            PATH=path_with(tmp_path / out.parent.name, hasher),
        )
        assert done.returncode == 0, done.stderr
    rlibs = [(out / "libdep-0123abcd.rlib").stat() for out in outs]
    rmetas = [(out / "libdep-0123abcd.rmeta").stat() for out in outs]
    assert rlibs[0].st_ino == rlibs[1].st_ino, "a registry unit's .rlib is two files"
    assert rlibs[2].st_ino != rlibs[0].st_ino, "the workspace's own crate was linked"
    assert len({m.st_ino for m in rmetas}) == 3, "an .rmeta was linked"
    (copy,) = [p for p in (cache / "units").rglob("*") if p.is_file()]
    assert copy.stat().st_ino == rlibs[0].st_ino and copy.stat().st_nlink == 3


@pytest.mark.parametrize("shell", SHELLS)
def test_a_compile_never_writes_into_the_shared_copy(
    wrapper: Path, tmp_path: Path, shell: str
) -> None:
    cache = tmp_path / "c"
    env = {
        "BUILDKIT_KEYED": "off",  # the path without the keyed store (also: no perl)
        "BUILDKIT_CACHE_DIR": str(cache),
        "CARGO_MANIFEST_DIR": "/h/.cargo/registry/src/index/dep-1.0.0",
    }
    outs = [tmp_path / "wt1", tmp_path / "wt2"]
    for out in outs:
        out.mkdir()
        done = run(
            shell,
            wrapper,
            lib_compile(out),
            BUILDKIT_SCCACHE=str(compiling_stand_in(tmp_path)),
            **env,
        )
        assert done.returncode == 0, done.stderr
    (copy,) = [p for p in (cache / "units").rglob("*") if p.is_file()]
    before = copy.read_bytes()
    # a compiler that writes into an existing output (none known does): the wrapper removed
    # the link first, so wt2 gets a file of its own and the copy wt1 uses is untouched
    (tmp_path / "inplace").mkdir()
    appender = compiling_stand_in(tmp_path / "inplace", in_place=True)
    done = run(shell, wrapper, lib_compile(outs[1]), BUILDKIT_SCCACHE=str(appender), **env)
    assert done.returncode == 0, done.stderr
    assert copy.read_bytes() == before
    assert (outs[0] / "libdep-0123abcd.rlib").read_bytes() == before


@pytest.mark.parametrize("shell", SHELLS)
def test_without_a_hashing_tool_outputs_stay_copies(
    wrapper: Path, tmp_path: Path, shell: str
) -> None:
    out = tmp_path / "deps"
    out.mkdir()
    done = run(
        shell,
        wrapper,
        lib_compile(out),
        BUILDKIT_KEYED="off",  # the path without the keyed store (also: no perl)
        BUILDKIT_SCCACHE=str(compiling_stand_in(tmp_path)),
        BUILDKIT_CACHE_DIR=str(tmp_path / "c"),
        CARGO_MANIFEST_DIR="/h/.cargo/registry/src/index/dep-1.0.0",
        PATH=path_with(tmp_path),
    )
    assert done.returncode == 0, done.stderr
    assert (out / "libdep-0123abcd.rlib").stat().st_nlink == 1
