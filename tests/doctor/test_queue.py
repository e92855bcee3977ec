"""gc and doctor with cq's queue: gc waits for a build holding it; held processes are no orphans.

The cq used is the real one, rendered into the test repository by `buildkit init`.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import run_buildkit
from doctor.doctor_helpers import cargo_env, doctor_json, find, listing, start_orphan

GATED_BUILD_RS = """use std::{env, fs, path::Path, thread, time::Duration};
fn main() {
    println!("cargo:rerun-if-env-changed=DOCTOR_GATE");
    let Ok(gate) = env::var("DOCTOR_GATE") else { return };
    fs::write(format!("{gate}.started"), b"").unwrap();
    for _ in 0..1200 {
        if Path::new(&gate).exists() { return }
        thread::sleep(Duration::from_millis(50));
    }
    panic!("the test never opened the gate");
}
"""


@pytest.fixture
def queue(built: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The repository's cq (scripts/cq), rendered by `buildkit init`."""
    state = tmp_path / "cq-state"
    state.mkdir(mode=0o700)
    monkeypatch.setenv("CQ_STATE_DIR", str(state))
    ran = run_buildkit("init", built, "--yes")
    assert ran.exit_code == 0, ran.stderr
    cq = built / "scripts" / "cq"
    assert cq.is_file() and os.access(cq, os.X_OK)
    return cq


def _env() -> dict[str, str]:
    env = cargo_env()
    env["CQ_STATE_DIR"] = os.environ["CQ_STATE_DIR"]
    return env


def test_gc_waits_for_a_build_holding_the_queue(built: Path, queue: Path, tmp_path: Path) -> None:
    (built / "app1" / "build.rs").write_text(GATED_BUILD_RS)
    gate = tmp_path / "gate"
    env = _env() | {"DOCTOR_GATE": str(gate)}
    build = subprocess.Popen(
        [str(queue), "build", "-p", "app1", "--quiet"],
        cwd=built,
        env=env,
        start_new_session=True,
    )
    gc = None
    try:
        deadline = time.monotonic() + 120
        while not Path(f"{gate}.started").exists():
            assert build.poll() is None, "the gated build ended early"
            assert time.monotonic() < deadline
            time.sleep(0.05)
        incremental = built / "target" / "debug" / "incremental"
        before = listing(incremental)
        gc_err = tmp_path / "gc.stderr"
        with gc_err.open("w") as err:
            gc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "buildkit",
                    "gc",
                    str(built),
                    "--json",
                    "--keep",
                    "0",
                    "--older-than",
                    "0s",
                ],
                env=_env(),
                stdout=subprocess.PIPE,
                stderr=err,
                text=True,
            )
        # cq says so once it has tried the queue's lock and found the build holding it
        deadline = time.monotonic() + 60
        while "cq: waiting for" not in gc_err.read_text():
            assert gc.poll() is None, f"gc ended without waiting: {gc_err.read_text()}"
            assert time.monotonic() < deadline, "gc never queued behind the build"
            time.sleep(0.05)
        assert f"build -p app1 --quiet in {built}" in gc_err.read_text()
        assert gc.poll() is None, "gc did not wait for the build holding the queue"
        # the build may still compile other crates beside its gated build script (adding and
        # touching entries), and rustc renames its session's `-working` dir when a compile
        # ends: what must hold is that nothing else there before is gone
        still = {line.rsplit(" ", 2)[0] for line in listing(incremental)}
        gone = [
            line
            for line in before
            if line.rsplit(" ", 2)[0] not in still and "-working" not in line
        ]
        assert gone == [], "gc deleted while the build held the queue"
        assert build.poll() is None
        gate.touch()
        assert build.wait(timeout=120) == 0
        out, _ = gc.communicate(timeout=120)
        assert gc.returncode == 0
    finally:
        gate.touch()
        for proc in (build, gc):
            if proc is not None and proc.poll() is None:
                proc.kill()
    result = json.loads(out)
    assert result["queue"] == f"held through {queue} exec"
    assert result["freed_bytes"] > 0
    assert find(incremental, "-mindepth", "1", "-maxdepth", "1") == []
    subprocess.run(["cargo", "build", "--quiet"], cwd=built, env=cargo_env(), check=True)


def test_processes_in_a_live_holders_group_are_not_orphans(
    built: Path, queue: Path, tmp_path: Path, spawned: list[int]
) -> None:
    # a test binary left running in the group of a cq command that still holds the queue
    fake = tmp_path / "bin" / "app2-fedcba9876543210"
    fake.parent.mkdir()
    sleep = shutil.which("sleep")
    assert sleep is not None
    shutil.copy2(sleep, fake)
    holder = subprocess.Popen(
        [
            str(queue),
            "exec",
            "sh",
            "-c",
            '("$0" 300 & echo $! >"$0.pid"); exec sleep 300',
            str(fake),
        ],
        env=_env(),
        cwd=built,  # inside the repository: only the live holder keeps it off the list
        start_new_session=True,
    )
    spawned.append(holder.pid)
    try:
        pid_file = Path(f"{fake}.pid")
        deadline = time.monotonic() + 30
        while not pid_file.exists() or not pid_file.read_text().strip():
            assert time.monotonic() < deadline
            time.sleep(0.05)
        held = int(pid_file.read_text())
        spawned.append(held)
        loose = start_orphan(tmp_path / "loose", "app2-0123456789abcdef", built, spawned)
        data = doctor_json(built)
        pids = {o["pid"] for o in data["orphans"]}
        assert loose in pids
        assert held not in pids
        assert any(h["pgid"] == os.getpgid(held) for h in data["queue_holders"])
    finally:
        os.killpg(holder.pid, 9)
        holder.wait()


def test_a_build_dir_apart_from_target_is_measured_and_cleaned(built: Path, queue: Path) -> None:
    # cargo.build_dir: cargo's intermediate artifacts (deps/, incremental/) live apart from the
    # worktree's target/; doctor must count that dir (where most bytes go) and gc clean it.
    profile = built / "buildkit.yaml"
    profile.write_text(profile.read_text() + 'cargo:\n  build_dir: "{workspace-root}/build-dir"\n')
    assert run_buildkit("render", built).exit_code == 0
    for args in (["build", "-p", "app1"], ["build", "-p", "app2"], ["test", "--no-run"]):
        subprocess.run([str(queue), *args, "--quiet"], cwd=built, env=_env(), check=True)
    build_dir = built / "build-dir"
    rlibs = find(build_dir, "-name", "*.rlib")
    assert rlibs, "cargo did not put its build-dir where the profile says"

    report = doctor_json(built)
    (entry,) = [t for t in report["target_dirs"] if t["path"] == str(build_dir)]  # type: ignore[union-attr]
    assert entry["rlibs"] == len(rlibs)

    dry = run_buildkit("gc", "--dry-run", "--json", "--older-than", "0s", built)
    assert dry.exit_code == 0, dry.stderr
    planned = [r["path"] for r in json.loads(dry.stdout)["removals"]]
    assert any(p.startswith(f"{build_dir}/") for p in planned)
