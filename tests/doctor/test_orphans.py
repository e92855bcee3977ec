"""Real orphans: a cargo test binary whose shell was SIGKILLed, a build script's child that
outlived it, and a decoy of the same name outside the repository."""

from __future__ import annotations

import os
import pwd
import signal
import subprocess
import time
from pathlib import Path

import psutil
import pytest

from buildkit.diagnose import procs
from conftest import TEST_USER, as_test_user, build_file_tree, run_buildkit
from doctor.doctor_helpers import cargo_env, doctor_json, make_repo

SPIN_TEST = """#[test]
fn spin() {
    let start = std::time::Instant::now();
    let mut x = 1u64;
    while start.elapsed().as_secs() < 120 {
        x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
    }
}
"""

# The build script starts a copy of itself that sleeps, detached from cargo's pipes, and exits:
# the copy is re-parented to the reaper, as a build script's daemon is when its build ends.
BUILD_RS = """fn main() {
    if std::env::args().nth(1).as_deref() == Some("linger") {
        std::thread::sleep(std::time::Duration::from_secs(120));
        return;
    }
    if let Ok(marker) = std::env::var("ORPHAN_MARKER") {
        let child = std::process::Command::new(std::env::current_exe().unwrap())
            .arg("linger")
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::fs::write(marker, child.id().to_string()).unwrap();
    }
    println!("cargo:rerun-if-env-changed=ORPHAN_MARKER");
}
"""


def _orphan_shell(command: str, cwd: Path, started: list[int]) -> int:
    """Run ``command`` in the background of a new shell session, then SIGKILL the shell:
    the command's parent is gone. Returns the command's pid."""
    shell = subprocess.Popen(
        ["sh", "-c", f"{command} </dev/null >/dev/null 2>&1 & echo $!; wait"],
        cwd=cwd,
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    assert shell.stdout is not None
    pid = int(shell.stdout.readline())
    started.append(pid)
    shell.send_signal(signal.SIGKILL)
    shell.wait()
    return pid


def _wait_reparented(pid: int) -> None:
    deadline = time.monotonic() + 10
    while psutil.Process(pid).ppid() != 1:
        assert time.monotonic() < deadline, f"{pid} was not re-parented"
        time.sleep(0.05)


@pytest.fixture
def orphan_repo(tmp_path: Path, spawned: list[int]) -> tuple[Path, dict[str, int]]:
    root = make_repo(tmp_path / "ws")
    build_file_tree(root, {"core/tests/spin.rs": SPIN_TEST, "app2/build.rs": BUILD_RS})
    env = cargo_env()
    built = subprocess.run(
        [
            "cargo",
            "test",
            "-p",
            "core-lib",
            "--test",
            "spin",
            "--no-run",
            "--message-format",
            "json",
            "-q",
        ],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    exe = next(
        line.split('"executable":"')[1].split('"')[0]
        for line in built.stdout.splitlines()
        if '"executable":"' in line and "/spin-" in line
    )
    marker = tmp_path / "linger.pid"
    env["ORPHAN_MARKER"] = str(marker)
    subprocess.run(["cargo", "build", "-q", "-p", "app2"], cwd=root, env=env, check=True)
    lingering = int(marker.read_text())
    spawned.append(lingering)
    test_bin = _orphan_shell(f"'{exe}' --nocapture", root / "core", spawned)
    # the decoy: the same test binary, orphaned the same way, outside the repository
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    decoy_exe = outside / Path(exe).name
    decoy_exe.write_bytes(Path(exe).read_bytes())
    decoy_exe.chmod(0o755)
    decoy = _orphan_shell(f"'{decoy_exe}' --nocapture", outside, spawned)
    for pid in (lingering, test_bin, decoy):
        _wait_reparented(pid)
    return root, {"test": test_bin, "build_script_child": lingering, "decoy": decoy}


def test_doctor_lists_exactly_the_repositorys_orphans(
    orphan_repo: tuple[Path, dict[str, int]],
) -> None:
    root, pids = orphan_repo
    time.sleep(1.0)  # some age and CPU time to measure
    data = doctor_json(root)
    listed = {o["pid"]: o for o in data["orphans"]}
    assert set(listed) == {pids["test"], pids["build_script_child"]}
    assert data["orphans_elsewhere"] >= 1  # the decoy, counted
    spinner = listed[pids["test"]]
    assert spinner["program"].startswith("spin-")
    assert spinner["cwd"] == str(root / "core")
    assert spinner["cpu_percent"] > 5  # it spins: the sample sees it working
    assert spinner["age_seconds"] >= 1
    child = listed[pids["build_script_child"]]
    assert child["program"] == "build-script-build"
    assert child["cpu_percent"] < 5  # it sleeps
    text = run_buildkit("doctor", root).stdout
    assert "--kill-orphans" in text and str(pids["test"]) in text
    assert str(pids["decoy"]) not in text


def test_kill_orphans_stops_them_and_nothing_else(
    orphan_repo: tuple[Path, dict[str, int]], monkeypatch: pytest.MonkeyPatch
) -> None:
    root, pids = orphan_repo
    monkeypatch.setenv("CQ_GRACE_SECONDS", "1")
    ran = run_buildkit("doctor", root, "--kill-orphans")
    assert ran.exit_code == 0, ran.stderr
    for key in ("test", "build_script_child"):
        assert not psutil.pid_exists(pids[key]) or (
            psutil.Process(pids[key]).status() == psutil.STATUS_ZOMBIE
        ), key
        assert f"pid {pids[key]} " in ran.stdout
    assert psutil.Process(pids["decoy"]).is_running()
    assert psutil.Process(pids["decoy"]).status() != psutil.STATUS_ZOMBIE
    assert "process group" in ran.stdout  # the test binary's group went as a whole
    data = doctor_json(root)
    assert data["orphans"] == [] and data["stopped"] is None


def _proc(
    pid: int, ppid: int, comm: str, program: str, cwd: str, uid: int = 501, tty: str | None = None
) -> procs.Proc:
    return procs.Proc(pid, ppid, pid, uid, comm, program, program, 60.0, 1.0, cwd, sid=pid, tty=tty)


def test_macos_reaper_is_launchd_simulated() -> None:
    """Simulated: the process table and the platform name ("darwin"), as psutil reports them on
    macOS, where orphans go to launchd (pid 1) and there is no systemd."""
    table = {
        1: _proc(1, 0, "launchd", "launchd", "/", uid=0),
        300: _proc(300, 1, "launchd", "launchd", "/", uid=501),  # a per-user launchd
        400: _proc(400, 300, "cargo", "cargo", "/Users/a/repo"),
        401: _proc(401, 400, "app-0123456789abcdef", "app-0123456789abcdef", "/Users/a/repo"),
        500: _proc(500, 1, "cargo", "cargo", "/Users/a/other"),
        600: _proc(600, 1, "rustc", "rustc", "/Users/a/repo", uid=502),  # another user
        700: _proc(700, 650, "cargo", "cargo", "/Users/a/repo"),
        # a live terminal's shell (its own session leader) owns 700
        650: _proc(650, 1, "zsh", "zsh", "/Users/a/repo", tty="/dev/ttys001"),
        800: _proc(800, 750, "cargo", "cargo", "/Users/a/repo"),
        750: _proc(750, 1, "systemd", "systemd", "/"),  # no systemd on macOS: not a reaper
    }
    found = procs.orphans([], ["/Users/a/repo"], table, platform="darwin", uid=501, self_pid=-1)
    assert [p.pid for p in found.listed] == [400, 401]
    assert found.elsewhere == 1  # 500
    linux = procs.orphans([], ["/Users/a/repo"], table, platform="linux", uid=501, self_pid=-1)
    assert [p.pid for p in linux.listed] == [800]  # systemd is the reaper, launchd is not one


def test_linux_user_manager_subreaper(tmp_path: Path, spawned: list[int]) -> None:
    """A real child subreaper (prctl PR_SET_CHILD_SUBREAPER) whose name is "systemd", as
    `systemd --user` is: the process name is the only simulated part."""
    repo = tmp_path / "repo"
    repo.mkdir()
    exe = tmp_path / "bin" / "cargo"
    exe.parent.mkdir()
    exe.write_bytes(Path("/bin/sleep").read_bytes())
    exe.chmod(0o755)
    script = f"""
import ctypes, os, subprocess, sys, time
libc = ctypes.CDLL(None)
libc.prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
libc.prctl(15, b"systemd", 0, 0, 0)  # PR_SET_NAME
out = subprocess.run(["sh", "-c", "'{exe}' 120 </dev/null >/dev/null 2>&1 & echo $!"],
                     cwd="{repo}", capture_output=True, text=True).stdout
print(out.strip(), flush=True)
time.sleep(120)
"""
    manager = subprocess.Popen(
        ["python3", "-c", script], stdout=subprocess.PIPE, text=True, start_new_session=True
    )
    spawned.append(manager.pid)
    assert manager.stdout is not None
    orphan = int(manager.stdout.readline())
    spawned.append(orphan)
    assert psutil.Process(orphan).ppid() == manager.pid
    assert psutil.Process(manager.pid).name() == "systemd"
    found = procs.orphans([], [str(repo)])
    assert [p.pid for p in found.listed] == [orphan]
    os.kill(manager.pid, signal.SIGKILL)


def test_another_users_orphan_is_never_listed_or_stopped(
    orphan_repo: tuple[Path, dict[str, int]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A real orphan named cargo, working in the repository, owned by the second test user
    (started through setpriv)."""
    root, pids = orphan_repo
    starter = subprocess.run(
        as_test_user(
            [
                "bash",
                "-c",
                "exec -a cargo sleep 120 </dev/null >/dev/null 2>&1 & echo $!",
            ]
        ),
        cwd=root,
        capture_output=True,
        text=True,
        check=True,
        start_new_session=True,
    )
    foreign = int(starter.stdout)
    try:
        _wait_reparented(foreign)
        assert psutil.Process(foreign).uids().real == pwd.getpwnam(TEST_USER).pw_uid
        # the background shell execs `cargo` a moment after `echo $!`
        deadline = time.monotonic() + 10
        while psutil.Process(foreign).cmdline()[:1] != ["cargo"]:
            assert time.monotonic() < deadline, psutil.Process(foreign).cmdline()
            time.sleep(0.05)
        monkeypatch.setenv("CQ_GRACE_SECONDS", "1")
        ran = run_buildkit("doctor", root, "--kill-orphans")
        assert ran.exit_code == 0, ran.stderr
        assert f"pid {pids['test']} " in ran.stdout  # ours went
        assert str(foreign) not in ran.stdout
        assert psutil.Process(foreign).status() != psutil.STATUS_ZOMBIE
    finally:
        os.kill(foreign, signal.SIGKILL)
