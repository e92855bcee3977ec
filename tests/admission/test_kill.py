"""A build killed with SIGKILL in the middle of a compile leaks no slot of the budget.

Slots are flock'd lock files held by the admission process of each compile, so the kernel
releases them when it dies, whatever kills it. Twenty builds in a row are killed mid-compile,
alternately as a whole process group (the build) and only the process holding the slot; the
budget's capacity is measured after each (every slot taken without waiting), not just the
absence of a hang. The same measure sees the slot a live compile holds, so it can fail.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from pathlib import Path

import pytest

from admission.admission_helpers import (
    JOBS,
    Holder,
    admission_dir,
    build_env,
    descendants,
    free_capacity,
    make_home,
    rendered_crate,
    wait_for,
)

# a lib that takes a rustc a second or more, so a kill lands in the middle of the compile
SLOW_LIB = "\n".join(
    f"pub fn f{i}(x: u64) -> u64 {{ (0..x).map(|y| y * {i} + 1).collect::<Vec<u64>>()"
    ".iter().sum() }"
    for i in range(150)
)


def holders(home: Path) -> dict[int, str]:
    """pid -> kind of every slot record (live or stale: the caller checks the pid)."""
    found = {}
    for record in admission_dir(home).glob("slot-*.rec"):
        try:
            fields = dict(
                line.split("=", 1) for line in record.read_text().splitlines() if "=" in line
            )
        except OSError:
            continue
        if fields.get("pid", "").isdigit():
            found[int(fields["pid"])] = fields.get("kind", "")
    return found


@pytest.mark.parametrize("holder", ["compiled", "perl"])
def test_kill_9_mid_compile_twenty_times_leaves_the_whole_budget(
    tmp_path: Path, holder: Holder
) -> None:
    home = make_home(tmp_path, holder)
    crate = rendered_crate(tmp_path, home)
    (crate / "src/lib.rs").write_text(SLOW_LIB + "\n")
    (crate / "src/main.rs").write_text("fn main() {}\n")
    state = tmp_path / "cq-state"
    state.mkdir(mode=0o700)
    env = build_env(home, state)
    for round_ in range(20):
        os.utime(crate / "src/lib.rs")
        build = subprocess.Popen(
            ["bash", "-c", "cargo build"],
            cwd=crate,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )

        def compiling(
            build: subprocess.Popen[bytes] = build, round_: int = round_
        ) -> tuple[int, dict[int, str]] | None:
            below = descendants(build.pid)
            assert build.poll() is None, f"round {round_}: the build ended before the kill"
            mine = [p for p, kind in holders(home).items() if kind == "heavy" and p in below]
            rustc = [p for p, name in below.items() if name == "rustc"]
            return (mine[0], below) if mine and rustc else None

        found = wait_for(f"round {round_}: a compile holding a slot", compiling, deadline=120)
        assert isinstance(found, tuple)
        holder, below = found
        assert free_capacity(home) < JOBS, "a live compile's slot must show as taken"
        if round_ % 2 == 0:
            os.killpg(build.pid, signal.SIGKILL)  # the whole build
        else:
            os.kill(holder, signal.SIGKILL)  # only the process holding the slot
        wait_for(
            f"round {round_}: the holder to be gone",
            lambda holder=holder: holder not in descendants(holder) or None,
        )
        # what is left of the build (its rustc runs on when only the holder died) is stopped
        # too, so the next round starts clean; the slot was already free
        assert free_capacity(home) == JOBS, f"round {round_}: a slot leaked"
        for pid in below:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        build.wait(timeout=60)
        wait_for(
            f"round {round_}: every process of the build to end",
            lambda below=below: not (set(below) & set(descendants(1))) or None,
        )
    assert free_capacity(home) == JOBS
    # and the budget still serves a build
    done = subprocess.run(
        ["bash", "-c", "cargo build"], cwd=crate, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert free_capacity(home) == JOBS
