"""The compiled admission holder: built by the wrapper on first use, the one holding slots after,
sharing one budget with the perl holder, and perl taking over wherever it cannot be built.

The holder is the program that takes a slot and runs the compile, test binary or doctest while
holding it (templates/rustc-wrapper.sh, "admission"). Which program holds a slot is read from
the kernel: the executable of the pid in a slot or waiting record (/proc/PID/exe).
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from admission.admission_helpers import (
    admission_dir,
    budget_held,
    build_env,
    holder_id,
    holder_source,
    make_home,
    rendered_crate,
    wait_for,
)


def record_pids(folder: Path, pattern: str) -> set[int]:
    pids = set()
    for record in folder.glob(pattern):
        try:
            text = record.read_text()
        except OSError:
            continue
        for line in text.splitlines():
            if line.startswith("pid=") and line[4:].isdigit():
                pids.add(int(line[4:]))
    return pids


def executable(pid: int) -> str:
    try:
        return str(Path(f"/proc/{pid}/exe").readlink())
    except OSError:
        return ""


def held_by(pid: int) -> str:
    """Which holder the process is: perl, compiled (holder-<id>) or something else."""
    name = Path(executable(pid)).name
    return "perl" if name.startswith("perl") else "compiled" if name.startswith("holder-") else name


def crate_in_home(tmp_path: Path, holder: str) -> tuple[Path, Path, dict[str, str]]:
    """A home whose holder is HOLDER ("none": not built yet), a crate rendered in it, and the
    environment of its builds: (home, crate, env)."""
    home = make_home(tmp_path, holder=holder)
    crate = rendered_crate(tmp_path, home)
    return home, crate, build_env(home, tmp_path / "cq-state")


def compiled_holder(home: Path) -> Path:
    """Where the wrapper builds the compiled holder of this source in HOME's budget folder."""
    _, ident = holder_source()
    return admission_dir(home) / f"holder-{ident}"


def test_the_holders_id_names_its_source() -> None:
    """holder-<id> is rebuilt when the source changes only if <id> changes with it."""
    source, ident = holder_source()
    assert ident == holder_id(source), (
        f"templates/rustc-wrapper.sh: set bk_holder_id={holder_id(source)} (the source changed)"
    )
    assert "fn main()" in source


def test_the_first_compile_builds_the_holder_which_then_waits_and_holds(tmp_path: Path) -> None:
    home, crate, env = crate_in_home(tmp_path, "none")
    folder = admission_dir(home)
    holder = compiled_holder(home)
    assert not holder.exists()
    with budget_held(home):
        proc = subprocess.Popen(
            ["cargo", "build"], cwd=crate, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )
        try:
            pids = wait_for("a compile to wait", lambda: record_pids(folder, "wait-*.rec"), 120)
            assert isinstance(pids, set)
            assert {executable(pid) for pid in pids} == {str(holder)}
        except BaseException:
            proc.kill()
            raise
    out, _ = proc.communicate(timeout=300)
    assert proc.returncode == 0, out
    assert holder.is_file() and os.access(holder, os.X_OK)
    assert not list(folder.glob("holder-*.failed")), "the build reported a failure"
    assert not list(folder.glob("holder-*.build")), "the build left its lock behind"
    assert folder.stat().st_mode & 0o077 == 0, "the holder sits in a folder others may enter"


@pytest.mark.parametrize("first", ["perl", "compiled"])
def test_perl_and_the_compiled_holder_share_one_budget(tmp_path: Path, first: str) -> None:
    """A program run by one holder keeps the other's from running until it ends (`cargo run`'s
    kind: with two slots and one kept for compiles, one program at a time)."""
    home = make_home(tmp_path)
    crate = rendered_crate(tmp_path, home)
    env = build_env(home, tmp_path / "cq-state")
    wrapper = crate / ".config/buildkit/bin/rustc-wrapper"
    folder = admission_dir(home)
    gate = tmp_path / "gate"
    holding = ["sh", "-c", f'while [ ! -e "{gate}" ]; do sleep 0.05; done']
    second = "compiled" if first == "perl" else "perl"

    def run(which: str, command: list[str]) -> subprocess.Popen[bytes]:
        own = dict(env)
        if which == "perl":
            own["BUILDKIT_ADMISSION_HOLDER"] = "perl"
        return subprocess.Popen(["sh", str(wrapper), "--buildkit-run", *command], env=own)

    holder = run(first, holding)
    try:
        held = wait_for("the first program to hold", lambda: record_pids(folder, "slot-*.rec"))
        assert isinstance(held, set) and held == {holder.pid}
        assert held_by(holder.pid) == first
        waiter = run(second, ["true"])
        try:
            waiting = wait_for("the second to wait", lambda: record_pids(folder, "wait-*.rec"))
            assert isinstance(waiting, set) and waiting == {waiter.pid}
            assert held_by(waiter.pid) == second
            assert waiter.poll() is None
            gate.touch()
            assert waiter.wait(timeout=30) == 0
        finally:
            waiter.kill()
    finally:
        gate.touch()
        holder.wait(timeout=30)
    assert holder.returncode == 0
    assert not list(folder.glob("*.rec")), "records left behind"


def test_where_the_holder_cannot_be_built_perl_holds_and_says_why_once(tmp_path: Path) -> None:
    home = make_home(tmp_path, holder="none")
    crate = rendered_crate(tmp_path, home)
    env = build_env(home, tmp_path / "cq-state")
    # a toolchain whose rustc cannot build the holder: cargo's own rustc for the crate (RUSTC),
    # a failing one beside a cargo of its own (where the wrapper looks)
    fake = tmp_path / "fake-toolchain"
    fake.mkdir()
    (fake / "rustc").write_text("#!/bin/sh\necho 'error: this rustc builds nothing' >&2\nexit 1\n")
    (fake / "rustc").chmod(0o755)
    real = subprocess.run(
        ["rustc", "--print", "sysroot"], env=env, capture_output=True, text=True, check=True
    )
    (fake / "cargo").symlink_to(Path(real.stdout.strip()) / "bin" / "cargo")
    wrapper = crate / ".config/buildkit/bin/rustc-wrapper"
    folder = admission_dir(home)
    _, ident = holder_source()
    failed = folder / f"holder-{ident}.failed"
    gate = tmp_path / "gate"
    own = dict(env, CARGO=str(fake / "cargo"))
    done = subprocess.run(
        ["sh", str(wrapper), "--buildkit-holder"], env=own, capture_output=True, text=True
    )
    assert done.returncode == 1 and f"{failed}" in done.stderr, done.stderr
    assert "this rustc builds nothing" in failed.read_text()
    before = failed.stat().st_mtime_ns
    proc = subprocess.Popen(
        [
            "sh",
            str(wrapper),
            "--buildkit-run",
            "sh",
            "-c",
            f'while [ ! -e "{gate}" ]; do sleep 0.05; done',
        ],
        env=own,
    )
    try:
        held = wait_for("perl to hold", lambda: record_pids(folder, "slot-*.rec"))
        assert isinstance(held, set) and held == {proc.pid}
        assert held_by(proc.pid) == "perl"
    finally:
        gate.touch()
        proc.wait(timeout=30)
    assert proc.returncode == 0
    assert failed.stat().st_mtime_ns == before, "the failed build was tried again at once"
    assert not (folder / f"holder-{ident}").exists()


def test_the_runner_builds_the_holder_from_the_wrapper_beside_it(tmp_path: Path) -> None:
    """The runner reads the wrapper into its own shell, where $0 is the runner: the holder's
    source, kept out of the shell's way at the wrapper's end, is read from the wrapper's file."""
    home, crate, env = crate_in_home(tmp_path, "none")
    holder = compiled_holder(home)
    runner = crate / ".config/buildkit/bin/runner"
    done = subprocess.run(
        [str(runner), "sh", "-c", "echo ran"], cwd=crate, env=env, capture_output=True, text=True
    )
    assert (done.returncode, done.stdout, done.stderr) == (0, "ran\n", "")
    assert holder.is_file(), f"no {holder}: {list(admission_dir(home).iterdir())}"
    assert not holder.with_name(holder.name + ".failed").exists()


def test_a_wrapper_without_its_perl_holder_says_so_and_runs_the_program(tmp_path: Path) -> None:
    """The perl holder is text at the wrapper's end, read when it is needed: a wrapper cut short
    (a partial copy) must not run nothing and report success."""
    _, crate, env = crate_in_home(tmp_path, "perl")
    wrapper = crate / ".config/buildkit/bin/rustc-wrapper"
    text = wrapper.read_text()
    assert "\n: <<'BK_ADMIT_PL'\n" in text
    wrapper.write_text(text.split("\n: <<'BK_ADMIT_PL'\n", 1)[0] + "\n")
    done = subprocess.run(
        ["sh", str(wrapper), "--buildkit-run", "sh", "-c", "echo ran; exit 3"],
        env=dict(env, BUILDKIT_ADMISSION_HOLDER="perl"),
        capture_output=True,
        text=True,
    )
    assert done.returncode == 3 and done.stdout == "ran\n"
    assert done.stderr.count("\n") == 1 and "cannot read the perl holder" in done.stderr


def test_a_holder_source_that_cannot_be_read_sets_nothing_aside(tmp_path: Path) -> None:
    """A runner that does not name the wrapper's file (one written before it had to) makes the
    wrapper read its texts from the runner, which has none. That must not record a failed
    build: holder-<id>.failed would send every repository's compiles to perl for a day."""
    home, crate, env = crate_in_home(tmp_path, "none")
    holder = compiled_holder(home)
    bin_dir = crate / ".config/buildkit/bin"
    runner = bin_dir / "runner"
    text = runner.read_text()
    assert "bk_wrapper_file=" in text
    runner.write_text("\n".join(x for x in text.splitlines() if "bk_wrapper_file" not in x) + "\n")
    done = subprocess.run(
        [str(runner), "sh", "-c", "echo ran"], cwd=crate, env=env, capture_output=True, text=True
    )
    assert (done.returncode, done.stdout) == (0, "ran\n"), done.stderr
    assert "cannot read the perl holder" in done.stderr
    assert not holder.with_name(holder.name + ".failed").exists()
    assert not holder.exists()
