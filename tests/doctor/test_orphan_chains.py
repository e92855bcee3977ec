"""Orphaned chains: an agent ran `bash -c "cargo test; …"` in a session of its own and died; the
shell, re-parented to the reaper, still waits on cargo and the test binary. doctor lists the
build processes, `--kill-orphans` stops the whole chain, and a decoy chain outside the
repository and a live cq's chain (its shell re-parented the same way) are left alone."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import psutil
import pytest

from buildkit.diagnose import procs
from buildkit.resources import data_dir
from conftest import build_file_tree, run_buildkit
from doctor.doctor_helpers import cargo_env, doctor_json, git

# The test writes its pid where SLEEPER_MARKER says, then sleeps: an observable "running".
SLEEPER = {
    "Cargo.toml": '[package]\nname = "sleeper"\nversion = "0.1.0"\nedition = "2021"\n',
    "src/lib.rs": """#[test]
fn sleeps() {
    if let Ok(marker) = std::env::var("SLEEPER_MARKER") {
        std::fs::write(marker, std::process::id().to_string()).unwrap();
    }
    std::thread::sleep(std::time::Duration::from_secs(300));
}
""",
    ".gitignore": "/target*\n",
}


def _wait(condition: Callable[[], object], what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _orphaned_shell(script: str, cwd: Path, env: dict[str, str], marker: Path) -> int:
    """`setsid bash -c SCRIPT` started by a shell that is then SIGKILLed once the test binary
    runs: bash is re-parented to the reaper. Returns bash's pid."""
    starter = subprocess.Popen(
        ["sh", "-c", 'setsid bash -c "$0" </dev/null >/dev/null 2>&1 & echo $!; wait', script],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    assert starter.stdout is not None
    bash = int(starter.stdout.readline())
    _wait(marker.exists, f"the test binary under {script!r} to start")
    starter.send_signal(signal.SIGKILL)
    starter.wait()
    table = procs.processes()
    _wait(
        lambda: procs.is_reaper(table.get(ppid := psutil.Process(bash).ppid()), ppid),
        f"bash {bash} to be re-parented",
    )
    return bash


@pytest.fixture
def chains(tmp_path: Path, spawned: list[int], monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    repo = tmp_path / "repo"
    build_file_tree(repo, SLEEPER)
    git(repo, "init", "-q", "-b", "main")
    env = cargo_env()
    state = tmp_path / "cq-state"
    state.mkdir(mode=0o700)
    monkeypatch.setenv("CQ_STATE_DIR", str(state))
    env["CQ_STATE_DIR"] = str(state)
    built = subprocess.run(
        ["cargo", "test", "--no-run", "--message-format", "json", "-q"],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    exe = next(
        line.split('"executable":"')[1].split('"')[0]
        for line in built.stdout.splitlines()
        if '"executable":"' in line
    )
    pids: dict[str, int] = {}
    # The agent's chain: a compound command, so bash waits on cargo instead of exec'ing it.
    marker = tmp_path / "orphan.pid"
    agent_env = {**env, "SLEEPER_MARKER": str(marker)}
    pids["bash"] = _orphaned_shell('cargo test -q; echo "exit $?"', repo, agent_env, marker)
    spawned.append(pids["bash"])
    pids["test"] = int(marker.read_text())
    pids["cargo"] = psutil.Process(pids["test"]).ppid()
    assert psutil.Process(pids["cargo"]).name() == "cargo"
    # The decoy: the same shape, outside the repository.
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    decoy_exe = outside / Path(exe).name
    decoy_exe.write_bytes(Path(exe).read_bytes())
    decoy_exe.chmod(0o755)
    marker = tmp_path / "decoy.pid"
    pids["decoy_bash"] = _orphaned_shell(
        f"'{decoy_exe}' -q; echo done", outside, {**env, "SLEEPER_MARKER": str(marker)}, marker
    )
    spawned.append(pids["decoy_bash"])
    pids["decoy_test"] = int(marker.read_text())
    # A live cq: its shell re-parented the same way, its build holding the queue (its own
    # target dir, so it does not wait on the other cargo's lock).
    cq = data_dir("templates") / "cq.sh"
    marker = tmp_path / "cq.pid"
    cq_env = {**env, "SLEEPER_MARKER": str(marker), "CARGO_TARGET_DIR": str(repo / "target-cq")}
    pids["cq_bash"] = _orphaned_shell(f"sh '{cq}' cargo test -q; echo done", repo, cq_env, marker)
    spawned.append(pids["cq_bash"])
    pids["cq_test"] = int(marker.read_text())
    pids["cq_shell"] = next(
        c.pid for c in psutil.Process(pids["cq_bash"]).children() if c.name() == "sh"
    )
    for pid in (pids["test"], pids["cargo"], pids["decoy_test"], pids["cq_test"]):
        spawned.append(pid)
    spawned.append(-os.getpgid(pids["cq_test"]))  # cq's build group, killed at the end
    return pids


def test_doctor_lists_an_orphaned_chain_and_kill_orphans_stops_all_of_it(
    chains: dict[str, int], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = tmp_path / "repo"
    data = doctor_json(repo)
    listed = {o["pid"]: o for o in data["orphans"]}
    assert set(listed) == {chains["cargo"], chains["test"]}, data["orphans"]
    assert listed[chains["cargo"]]["program"] == "cargo"
    assert listed[chains["test"]]["program"].startswith("sleeper-")
    for orphan in listed.values():
        assert orphan["cpu_percent"] >= 0 and orphan["cpu_seconds"] >= 0
        assert orphan["age_seconds"] >= 0
    assert data["orphans_elsewhere"] >= 1  # the decoy's test binary, counted, not listed
    text = run_buildkit("doctor", repo).stdout
    assert str(chains["test"]) in text and str(chains["decoy_test"]) not in text
    assert str(chains["cq_test"]) not in text

    monkeypatch.setenv("CQ_GRACE_SECONDS", "1")
    ran = run_buildkit("doctor", repo, "--kill-orphans")
    assert ran.exit_code == 0, ran.stderr
    for key in ("bash", "cargo", "test"):
        _wait(lambda pid=chains[key]: not _alive(pid), f"the orphaned {key} to go", timeout=15)
        assert f"pid {chains[key]} " in ran.stdout
    for key in ("decoy_bash", "decoy_test", "cq_bash", "cq_shell", "cq_test"):
        assert _alive(chains[key]), f"{key} was stopped"
    assert doctor_json(repo)["orphans"] == []


def test_a_shell_of_a_live_terminal_session_is_never_an_orphans_parent() -> None:
    """Simulated table (a terminal cannot be given to a test process portably): a shell with a
    controlling terminal whose session leader lives keeps its chain; once the leader is gone
    (the terminal closed), the chain is an orphan."""

    def proc(pid: int, ppid: int, comm: str, sid: int, tty: str | None) -> procs.Proc:
        return procs.Proc(pid, ppid, pid, 501, comm, comm, comm, 60.0, 1.0, "/r", sid=sid, tty=tty)

    table = {
        1: proc(1, 0, "init", 1, None),
        10: proc(10, 1, "zsh", 10, "/dev/pts/3"),  # a login shell, its own session leader
        11: proc(11, 10, "cargo", 10, "/dev/pts/3"),
        20: proc(20, 1, "bash", 19, "/dev/pts/4"),  # its session leader (19) is gone
        21: proc(21, 20, "cargo", 19, "/dev/pts/4"),
        30: proc(30, 1, "emacs", 30, None),  # not a wrapper: whoever runs it owns the build
        31: proc(31, 30, "cargo", 30, None),
    }
    found = procs.orphans([], ["/r"], table, platform="linux", uid=501, self_pid=-1)
    assert [p.pid for p in found.listed] == [21]
    assert [p.pid for p in found.wrappers] == [20]
