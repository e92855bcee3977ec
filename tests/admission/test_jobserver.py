"""Threads inside a slot: an admitted compile gets a jobserver of the slots it holds.

rustc runs an LLVM worker thread (named `opt <cgu>`) per codegen unit it may run at once: one on
its implicit token, one more per jobserver token. Under plain cargo that is cargo's jobserver
(`-j` tokens, whatever the machine's budget); with no jobserver at all rustc makes one of 32. The
wrapper hands each compile a pipe of its slot holder instead, with (slots held - 1) tokens. Here
a release compile of 16 codegen units is sampled for its concurrent `opt` threads: with one of
the two slots held elsewhere it stays at one (two in a sample taken while one worker exits and
the next starts), where the same compile with the wrapper switched off (`RUSTC_WRAPPER=`) under
`cargo -j 16` runs many. Alone, it lends itself the free slot and gives it back to a waiter.
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest

from admission.admission_helpers import (
    Holder,
    admission_dir,
    budget_held,
    build_env,
    descendants,
    make_home,
    rendered_crate,
    wait_for,
)

CODEGEN_UNITS = 16
HEAVY_FUNCTIONS = 400


def heavy_source() -> str:
    """Enough optimised code for every codegen unit to take a while."""
    lines = []
    for i in range(HEAVY_FUNCTIONS):
        lines.append(
            f"pub fn f{i}(x: &[u64]) -> u64 {{ x.iter().map(|v| v.wrapping_mul({i + 3})"
            f".rotate_left({i % 63}) ^ {i}).fold(0u64, |a, b| a.wrapping_add(b)"
            f".wrapping_mul(31)) + x.iter().rev().take({i % 17 + 1}).sum::<u64>() }}"
        )
        lines.append(
            f"pub mod m{i} {{ pub fn g(v: Vec<String>) -> std::collections::BTreeMap<String, "
            f"usize> {{ let mut m = std::collections::BTreeMap::new(); for s in v {{ "
            f"*m.entry(s.repeat({i % 5 + 1})).or_insert(0) += {i}; }} m }} }}"
        )
    return "\n".join(lines) + "\n"


def heavy_crate(root: Path, home: Path) -> Path:
    crate = rendered_crate(root, home)
    (crate / "src/main.rs").unlink()
    (crate / "src/lib.rs").write_text(heavy_source())
    with (crate / "Cargo.toml").open("a") as toml:
        toml.write(f"\n[profile.release]\ncodegen-units = {CODEGEN_UNITS}\n")
    return crate


def llvm_workers(pid: int) -> int:
    """How many `opt` threads the rustc processes below ``pid`` run right now."""
    count = 0
    for child, name in descendants(pid).items():
        if name != "rustc":
            continue
        try:
            tasks = list(Path(f"/proc/{child}/task").iterdir())
        except OSError:
            continue
        for task in tasks:
            try:
                comm = (task / "comm").read_text()
            except OSError:
                continue
            count += comm.startswith("opt ")
    return count


def open_files(pid: int) -> set[str]:
    return {str(fd.readlink()) for fd in Path(f"/proc/{pid}/fd").iterdir()}


def build_sampled(
    crate: Path, env: dict[str, str], *extra: str
) -> tuple[subprocess.CompletedProcess[str], int]:
    """`cargo build --release -j 16`, sampled for its most concurrent LLVM workers."""
    return run_sampled(["cargo", "build", "--release", "-j", "16", *extra], crate, env)


def run_sampled(
    argv: list[str], cwd: Path, env: dict[str, str]
) -> tuple[subprocess.CompletedProcess[str], int]:
    """Run ``argv`` to its end, sampled every 10 ms for its most concurrent LLVM workers."""
    proc = subprocess.Popen(
        argv, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    most = 0
    while proc.poll() is None:
        most = max(most, llvm_workers(proc.pid))
        time.sleep(0.01)
    out, _ = proc.communicate()
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, ""), most


def test_a_compile_runs_as_many_llvm_workers_as_its_slots(tmp_path: Path) -> None:
    home = make_home(tmp_path)
    crate = heavy_crate(tmp_path, home)
    env = build_env(home, tmp_path / "cq-state")

    # control: cargo's own jobserver of 16 tokens, no wrapper
    control, unbounded = build_sampled(crate, env | {"RUSTC_WRAPPER": ""})
    assert control.returncode == 0, control.stdout
    assert unbounded >= 6, f"without the wrapper rustc ran only {unbounded} LLVM workers"

    subprocess.run(["cargo", "clean", "--release"], cwd=crate, env=env, check=True)
    with budget_held(home) as fds:
        os.close(fds.pop(0))  # slot 0 free, slot 1 held by "someone else"
        built, bounded = build_sampled(crate, env)
    assert built.returncode == 0, built.stdout
    assert 1 <= bounded <= 2, f"one slot, yet {bounded} LLVM workers at once"


@pytest.mark.parametrize("holder", ["compiled", "perl"])
def test_the_compile_gets_a_pipe_of_its_slot_holder_not_cargos_jobserver(
    tmp_path: Path, holder: Holder
) -> None:
    home = make_home(tmp_path, holder)
    crate = heavy_crate(tmp_path, home)
    env = build_env(home, tmp_path / "cq-state")
    proc = subprocess.Popen(
        ["cargo", "build", "--release"],
        cwd=crate,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:

        def compiling() -> tuple[int, int] | None:
            below = descendants(proc.pid)
            rustc = [p for p, name in below.items() if name == "rustc"]
            # the compiled holder's name is holder-<id>, cut to 15 characters by the kernel
            named = "perl" if holder == "perl" else "holder-"
            holders = [p for p, name in below.items() if name.startswith(named)]
            return (rustc[0], holders[0]) if rustc and holders else None

        found = wait_for("the admitted rustc", compiling, deadline=120)
        assert isinstance(found, tuple)
        rustc, holder = found
        environ = Path(f"/proc/{rustc}/environ").read_bytes().split(b"\0")
        flags = [v for v in environ if v.startswith(b"CARGO_MAKEFLAGS=")]
        assert len(flags) == 1, environ
        auth = flags[0].decode().rsplit("--jobserver-auth=", 1)[1].split()[0]
        read_fd, write_fd = (int(fd) for fd in auth.split(","))
        pipe = str(Path(f"/proc/{rustc}/fd/{read_fd}").readlink())
        assert pipe.startswith("pipe:"), pipe
        assert str(Path(f"/proc/{rustc}/fd/{write_fd}").readlink()) == pipe
        held_by_holder = open_files(holder)
        assert pipe in held_by_holder, "the pipe is the slot holder's"
        held_by_cargo = open_files(proc.pid)
        assert pipe not in held_by_cargo, "not cargo's jobserver"
    finally:
        out, _ = proc.communicate(timeout=300)
    assert proc.returncode == 0, out


@pytest.mark.parametrize("holder", ["compiled", "perl"])
def test_alone_a_compile_lends_itself_the_free_slot_and_gives_it_back_to_a_waiter(
    tmp_path: Path, holder: Holder
) -> None:
    home = make_home(tmp_path, holder)
    crate = heavy_crate(tmp_path / "heavy", home)
    other = rendered_crate(tmp_path / "other", home)
    env = build_env(home, tmp_path / "cq-state")
    proc = subprocess.Popen(
        ["cargo", "build", "--release"],
        cwd=crate,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        both = admission_dir(home) / "slot-000.rec", admission_dir(home) / "slot-001.rec"

        def holds_both() -> bool:
            texts = []
            for record in both:
                try:
                    texts.append(record.read_text())
                except OSError:
                    return False
            return len({t for t in texts if "rustc tiny" in t}) == 1

        wait_for("the compile to take both slots", holds_both, deadline=120)
        check = subprocess.run(
            ["cargo", "check"], cwd=other, env=env, capture_output=True, text=True, timeout=120
        )
        assert check.returncode == 0, check.stderr
        assert proc.poll() is None, "the check ran while the long compile went on"
    finally:
        out, _ = proc.communicate(timeout=300)
    assert proc.returncode == 0, out


@pytest.mark.parametrize("shell", ["dash", "bash"])
def test_a_compile_without_any_jobserver_gets_one(tmp_path: Path, shell: str) -> None:
    """Outside cargo nobody passes a jobserver: rustc would make one of 32 tokens."""
    home = make_home(tmp_path)
    crate = heavy_crate(tmp_path, home)
    env = build_env(home, tmp_path / "cq-state")
    for name in ("MAKEFLAGS", "MFLAGS"):
        env.pop(name, None)
    wrapper = crate / ".config/buildkit/bin/rustc-wrapper"
    units = f"codegen-units={CODEGEN_UNITS}"
    rustc = ["rustc", "--crate-type", "lib", "-C", "opt-level=2", "-C", units, "src/lib.rs"]
    with budget_held(home) as fds:
        os.close(fds.pop(0))
        done, most = run_sampled([shell, str(wrapper), *rustc, "--out-dir", "out"], crate, env)
    out = done.stdout
    assert done.returncode == 0, out
    assert list((crate / "out").glob("*.rlib")), out
    assert 1 <= most <= 2, f"one slot, yet {most} LLVM workers at once"
