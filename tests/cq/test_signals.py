"""Process isolation and exit codes: real cargo, real signals, processes checked in /proc."""

from __future__ import annotations

import contextlib
import os
import pty
import signal
import subprocess
import time
from pathlib import Path

import pytest

from cq.conftest import Runner
from cq.cq_helpers import (
    alive,
    cq_env,
    group_members,
    holder_record,
    live_pids,
    session_members,
    start,
    started,
    stat,
    wait_for,
)


def _cq_helpers_of(state: Path) -> list[int]:
    """Live processes whose command line names this test's state directory (cq's watchdog)."""
    found = []
    for pid in live_pids():
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if str(state).encode() in cmdline:
            found.append(pid)
    return found


def _held_build(
    runner: Runner,
    cq: Path,
    checkout: Path,
    state: Path,
    procs: list[subprocess.Popen[str]],
    groups: list[int],
    argv: list[str] | None = None,
) -> tuple[subprocess.Popen[str], int, list[int]]:
    """Start `cq build` whose build script sleeps; return cq, the build's group and members."""
    log = state.parent / "build.log"
    run = f"{runner.id}-{os.getpid()}-{len(procs)}-{state.parent.name}"
    env = cq_env(
        state, runner.path, CQ_TEST_LOG=str(log), CQ_TEST_RUN=run, CQ_TEST_SLEEP_MS="600000"
    )
    args = argv or [runner.shell, str(cq), "build", "--quiet"]
    proc = subprocess.Popen(args, cwd=checkout, env=env, text=True, start_new_session=True)
    procs.append(proc)
    entry = wait_for(lambda: started(log, run), 90, "the build script to start")
    holder = wait_for(lambda: holder_record(state), 10, "the holder record")
    pgid = int(holder["pgid"])
    groups.append(pgid)
    members = group_members(pgid)
    assert entry["pid"] in members, "the build script is not in the build's process group"
    assert pgid in members, "cargo does not lead the build's process group"
    facts = stat(proc.pid if not argv else int(holder["pid"]))
    assert facts is not None and facts[2] != pgid, "cq must not be in the group it stops"
    return proc, pgid, members


def _assert_all_gone(pgid: int, members: list[int], state: Path) -> None:
    wait_for(
        lambda: not group_members(pgid) and not any(alive(p) for p in members),
        5,
        f"every process of the build (group {pgid}: {members}) to be gone",
    )
    wait_for(lambda: not _cq_helpers_of(state), 5, "cq's watchdog to exit")


@pytest.mark.parametrize("signame", ["SIGTERM", "SIGINT", "SIGHUP"], ids=["TERM", "INT", "HUP"])
def test_a_signal_to_cq_stops_the_whole_build_and_exits_128_plus_n(
    runner: Runner,
    cq: Path,
    repo: list[Path],
    state: Path,
    procs: list[subprocess.Popen[str]],
    groups: list[int],
    signame: str,
) -> None:
    number = getattr(signal, signame)
    proc, pgid, members = _held_build(runner, cq, repo[0], state, procs, groups)
    proc.send_signal(number)
    assert proc.wait(timeout=30) == 128 + number
    _assert_all_gone(pgid, members, state)
    assert holder_record(state) is None


def test_sigkill_to_cq_still_stops_the_build(
    runner: Runner,
    cq: Path,
    repo: list[Path],
    state: Path,
    procs: list[subprocess.Popen[str]],
    groups: list[int],
) -> None:
    proc, pgid, members = _held_build(runner, cq, repo[1], state, procs, groups)
    os.kill(proc.pid, signal.SIGKILL)
    # cq stays an unreaped zombie meanwhile: its watchdog must not mistake that for life
    _assert_all_gone(pgid, members, state)
    assert proc.wait(timeout=5) == -signal.SIGKILL
    assert holder_record(state) is None, "the watchdog removes a killed holder's record"


def test_killing_the_callers_whole_session_stops_the_build(
    runner: Runner,
    cq: Path,
    repo: list[Path],
    state: Path,
    procs: list[subprocess.Popen[str]],
    groups: list[int],
) -> None:
    # the caller: a shell (an agent's session) that runs cq and waits for it
    argv = [runner.shell, "-c", '"$0" "$1" build --quiet; echo done', runner.shell, str(cq)]
    caller, pgid, members = _held_build(runner, cq, repo[2], state, procs, groups, argv)
    session = session_members(caller.pid)
    assert len(session) >= 2, "the caller's session holds the caller shell and cq"
    for pid in session:
        os.kill(pid, signal.SIGKILL)
    _assert_all_gone(pgid, members, state)
    assert not session_members(caller.pid)


def test_a_build_killed_by_term_makes_cq_exit_143(
    runner: Runner,
    cq: Path,
    repo: list[Path],
    state: Path,
    procs: list[subprocess.Popen[str]],
    groups: list[int],
) -> None:
    proc, pgid, members = _held_build(runner, cq, repo[0], state, procs, groups)
    os.kill(pgid, signal.SIGTERM)  # cargo itself, not cq
    assert proc.wait(timeout=30) == 143
    _assert_all_gone(pgid, members, state)


def test_cq_test_on_a_failing_test_exits_101(
    runner: Runner, cq: Path, repo: list[Path], state: Path
) -> None:
    env = cq_env(state, runner.path, CQ_TEST_FAIL="1")
    ran = start(runner.shell, cq, ["test", "--quiet"], repo[0], env, stdout=subprocess.PIPE)
    out, _ = ran.communicate(timeout=120)
    assert ran.returncode == 101
    assert "asked to fail" in out
    passing = start(runner.shell, cq, ["test", "--quiet"], repo[0], cq_env(state, runner.path))
    assert passing.wait(timeout=120) == 0


def test_ctrl_c_at_a_terminal_stops_the_build(
    runner: Runner, cq: Path, repo: list[Path], state: Path, groups: list[int]
) -> None:
    """cq in the foreground of a real pseudo-terminal; ^C is the terminal's SIGINT."""
    log = state.parent / "tty.log"
    run = f"tty-{runner.id}-{state.parent.name}"
    env = cq_env(
        state, runner.path, CQ_TEST_LOG=str(log), CQ_TEST_RUN=run, CQ_TEST_SLEEP_MS="600000"
    )
    pid, terminal = pty.fork()
    if pid == 0:  # the child: a session leader with the terminal as its controlling tty
        try:
            os.chdir(repo[0])
            os.execvpe(runner.shell, [runner.shell, str(cq), "build", "--quiet"], env)  # noqa: S606
        finally:
            os._exit(127)
    try:
        entry = wait_for(lambda: started(log, run), 90, "the build script to start")
        holder = wait_for(lambda: holder_record(state), 10, "the holder record")
        pgid = int(holder["pgid"])
        groups.append(pgid)
        members = group_members(pgid)
        assert entry["pid"] in members
        os.write(terminal, b"\x03")
        status = wait_for(lambda: os.waitpid(pid, os.WNOHANG)[1] or None, 30, "cq to exit")
        assert os.waitstatus_to_exitcode(status) == 130
        _assert_all_gone(pgid, members, state)
    finally:
        with contextlib.suppress(ChildProcessError, ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        os.close(terminal)


@pytest.mark.parametrize("how", ["TERM", "KILL"])
def test_a_process_ignoring_term_is_killed_after_the_grace_period(
    runner: Runner,
    cq: Path,
    state: Path,
    tmp_path: Path,
    procs: list[subprocess.Popen[str]],
    groups: list[int],
    how: str,
) -> None:
    ready = tmp_path / "ready"
    stubborn = 'trap "" TERM; : >"$0"; while :; do sleep 0.1; done'
    env = cq_env(state, runner.path, CQ_GRACE_SECONDS="1")
    proc = start(runner.shell, cq, ["exec", "sh", "-c", stubborn, str(ready)], tmp_path, env)
    procs.append(proc)
    wait_for(ready.exists, 30, "the stubborn command to start")
    holder = wait_for(lambda: holder_record(state), 10, "the holder record")
    pgid = int(holder["pgid"])
    groups.append(pgid)
    members = group_members(pgid)
    proc.send_signal(getattr(signal, f"SIG{how}"))
    time.sleep(0.5)
    assert group_members(pgid), "TERM is ignored: the group must live through the grace period"
    _assert_all_gone(pgid, members, state)
    assert proc.wait(timeout=10) == (143 if how == "TERM" else -signal.SIGKILL)
