"""The queue: one holder at a time across worktrees, first come first served, inspectable."""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from cq.conftest import Runner
from cq.cq_helpers import (
    cq_env,
    group_members,
    holder_record,
    read_log,
    start,
    tickets,
    wait_for,
)

GATE_SCRIPT = 'while [ ! -e "$0" ]; do sleep 0.05; done'


def _intervals(log: Path) -> list[tuple[float, float, str]]:
    entries = read_log(log)
    starts = {e["run"]: e["t"] for e in entries if e["event"] == "start"}
    ends = {e["run"]: e["t"] for e in entries if e["event"] == "end"}
    assert starts.keys() == ends.keys()
    return sorted((starts[run], ends[run], run) for run in starts)


def _queued(state: Path, pid: int) -> bool:
    holder = holder_record(state)
    return (holder is not None and holder["pid"] == str(pid)) or any(
        name.endswith(f".{pid}") for name in tickets(state)
    )


def _hold(
    runner: Runner, cq: Path, cwd: Path, state: Path, gate: Path, procs: list[subprocess.Popen[str]]
) -> subprocess.Popen[str]:
    """`cq exec` a command that holds the queue until ``gate`` exists."""
    env = cq_env(state, runner.path)
    proc = start(runner.shell, cq, ["exec", "sh", "-c", GATE_SCRIPT, str(gate)], cwd, env)
    procs.append(proc)
    wait_for(lambda: _queued(state, proc.pid) and holder_record(state), 30, "the holder")
    return proc


def test_eight_concurrent_builds_over_three_worktrees_never_overlap_in_arrival_order(
    runner3: Runner,
    cq: Path,
    repo: list[Path],
    state: Path,
    tmp_path: Path,
    procs: list[subprocess.Popen[str]],
) -> None:
    log = tmp_path / "builds.log"
    order = []
    for i in range(8):
        run = f"{runner3.id}-{tmp_path.name}-{i}"
        env = cq_env(
            state, runner3.path, CQ_TEST_LOG=str(log), CQ_TEST_RUN=run, CQ_TEST_SLEEP_MS="1000"
        )
        proc = start(
            runner3.shell, cq, ["build", "--quiet"], repo[i % 3], env, stderr=subprocess.PIPE
        )
        procs.append(proc)
        order.append(run)
        # arrival order is when a cq has queued (holds, or has a ticket), not when it started
        wait_for(lambda p=proc: _queued(state, p.pid) or p.poll() is not None, 30, "queueing")
    errors = []
    for proc in procs:
        _, err = proc.communicate(timeout=240)
        assert proc.returncode == 0, err
        errors.append(err)
    intervals = _intervals(log)
    assert [run for _, _, run in intervals] == order, "not served in arrival order"
    for (_, end, first), (begin, _, second) in itertools.pairwise(intervals):
        assert begin >= end, f"{second} started at {begin} before {first} ended at {end}"
    # every waiter said once who it waited for
    for err in errors[1:]:
        assert err.count("cq: waiting for") == 1, err
    assert "cq: waiting for" not in errors[0]
    assert holder_record(state) is None and tickets(state) == []


def test_without_cq_the_same_builds_overlap(repo: list[Path], tmp_path: Path) -> None:
    """The control: plain cargo in three worktrees runs the build scripts at the same time."""
    log = tmp_path / "plain.log"
    procs = []
    for i, checkout in enumerate(repo):
        env = cq_env(
            tmp_path,
            None,
            CQ_TEST_LOG=str(log),
            CQ_TEST_RUN=f"plain-{tmp_path.name}-{i}",
            CQ_TEST_SLEEP_MS="2000",
        )
        procs.append(subprocess.Popen(["cargo", "build", "--quiet"], cwd=checkout, env=env))
    assert [p.wait(timeout=120) for p in procs] == [0, 0, 0]
    intervals = _intervals(log)
    overlaps = sum(b < e for (_, e, _), (b, _, _) in itertools.pairwise(intervals))
    assert overlaps >= 1


def test_a_newcomer_never_takes_a_free_queue_ahead_of_a_waiter(
    runner: Runner,
    cq: Path,
    repo: list[Path],
    state: Path,
    tmp_path: Path,
    procs: list[subprocess.Popen[str]],
) -> None:
    """A free queue is taken at once only when nobody waits: the moment the holder ends, the
    waiter may still be asleep between two looks at the lock, and a command that arrives then
    must queue behind it, not take the lock first."""
    gate = tmp_path / "gate"
    order = tmp_path / "order"
    env = cq_env(state, runner.path)
    holder = _hold(runner, cq, repo[0], state, gate, procs)
    append = 'echo "$1" >> "$0"'
    waiter = start(
        runner.shell, cq, ["exec", "sh", "-c", append, str(order), "waiter"], repo[1], env
    )
    procs.append(waiter)
    wait_for(lambda: any(n.endswith(f".{waiter.pid}") for n in tickets(state)), 30, "the ticket")
    gate.touch()
    assert holder.wait(timeout=30) == 0
    newcomer = start(
        runner.shell, cq, ["exec", "sh", "-c", append, str(order), "newcomer"], repo[2], env
    )
    procs.append(newcomer)
    assert waiter.wait(timeout=30) == 0 and newcomer.wait(timeout=30) == 0
    assert order.read_text().split() == ["waiter", "newcomer"]


def test_a_free_queue_is_taken_without_a_ticket(
    runner: Runner, cq: Path, repo: list[Path], state: Path, tmp_path: Path
) -> None:
    """Nobody waits and nobody holds: cq takes the lock at once, without drawing a ticket (no
    ticket number is drawn: the queue's `seq` stays unwritten). The holder record is still
    written while the command runs (status, kill and worktree removal read it)."""
    seen = tmp_path / "seen"
    # the record is written a moment after the command starts (once its process group exists)
    script = (
        'i=0; while [ ! -s "$1" ] && [ "$i" -lt 200 ]; do sleep 0.05; i=$((i + 1)); done; '
        'cat "$1" > "$0"; ls -A "$2" >> "$0"'
    )
    done = subprocess.run(
        [
            runner.shell,
            str(cq),
            "exec",
            "sh",
            "-c",
            script,
            str(seen),
            str(state / "user.holder"),
            str(state / "user.d" / "waiters"),
        ],
        cwd=repo[0],
        env=cq_env(state, runner.path),
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0 and "waiting" not in done.stderr, done.stderr
    record = dict(line.split("=", 1) for line in seen.read_text().splitlines() if "=" in line)
    assert record["cwd"] == str(repo[0]) and record["pgid"].isdigit()
    assert [line for line in seen.read_text().splitlines() if "=" not in line] == []
    assert holder_record(state) is None and tickets(state) == []
    assert not (state / "user.d" / "seq").exists(), "a ticket was drawn for a free queue"


def test_status_shows_holder_and_waiters_and_a_dead_waiter_is_skipped(
    runner: Runner,
    cq: Path,
    repo: list[Path],
    state: Path,
    tmp_path: Path,
    procs: list[subprocess.Popen[str]],
) -> None:
    gate = tmp_path / "gate"
    holder = _hold(runner, cq, repo[0], state, gate, procs)
    env = cq_env(state, runner.path)
    waiters = []
    for checkout in repo[1:]:
        proc = start(runner.shell, cq, ["exec", "true"], checkout, env, stderr=subprocess.PIPE)
        procs.append(proc)
        wait_for(lambda p=proc: _queued(state, p.pid), 30, "the waiter's ticket")
        waiters.append(proc)
    status = subprocess.run(
        [runner.shell, str(cq), "status"], env=env, capture_output=True, text=True, check=True
    ).stdout
    assert f"holder: pid {holder.pid} (group " in status
    assert f"in {repo[0]}: sh -c" in status
    assert f"1. pid {waiters[0].pid} for " in status and f"in {repo[1]}: true" in status
    assert f"2. pid {waiters[1].pid} for " in status
    # the first waiter dies without a chance to clean up (and stays an unreaped zombie)
    os.kill(waiters[0].pid, signal.SIGKILL)
    gate.touch()
    assert holder.wait(timeout=30) == 0
    assert waiters[1].wait(timeout=30) == 0, "a dead waiter's ticket blocked the queue"
    waiters[0].wait()
    assert tickets(state) == []
    free = subprocess.run(
        [runner.shell, str(cq), "status"], env=env, capture_output=True, text=True, check=True
    ).stdout
    assert "holder: none, the queue is free" in free and "waiting: nobody" in free


def test_wait_timeout_gives_up_with_a_clear_message_and_exit_75(
    runner: Runner,
    cq: Path,
    repo: list[Path],
    state: Path,
    tmp_path: Path,
    procs: list[subprocess.Popen[str]],
) -> None:
    gate = tmp_path / "gate"
    holder = _hold(runner, cq, repo[0], state, gate, procs)
    env = cq_env(state, runner.path, CQ_WAIT_TIMEOUT="1")
    began = time.monotonic()
    ran = subprocess.run(
        [runner.shell, str(cq), "build"], cwd=repo[1], env=env, capture_output=True, text=True
    )
    assert ran.returncode == 75, ran.stderr
    assert time.monotonic() - began < 10
    assert ran.stderr.count(f"cq: waiting for {holder.pid} sh -c ") == 1, ran.stderr
    assert f"gave up after 1s waiting for {holder.pid} sh -c" in ran.stderr
    assert tickets(state) == [], "a waiter that gave up left its ticket"
    # non-heavy commands pass straight through while the queue is held
    meta = subprocess.run(
        [runner.shell, str(cq), "metadata", "--format-version", "1", "--no-deps"],
        cwd=repo[1],
        env=env,
        capture_output=True,
        text=True,
    )
    assert meta.returncode == 0, meta.stderr
    assert json.loads(meta.stdout)["packages"][0]["name"] == "q"
    gate.touch()
    assert holder.wait(timeout=30) == 0


def test_cq_kill_stops_the_holders_group(
    runner: Runner,
    cq: Path,
    repo: list[Path],
    state: Path,
    tmp_path: Path,
    procs: list[subprocess.Popen[str]],
) -> None:
    holder = _hold(runner, cq, repo[0], state, tmp_path / "never", procs)
    record = holder_record(state)
    assert record is not None
    pgid = int(record["pgid"])
    assert group_members(pgid)
    env = cq_env(state, runner.path)
    killed = subprocess.run(
        [runner.shell, str(cq), "kill"], env=env, capture_output=True, text=True, timeout=60
    )
    assert killed.returncode == 0, killed.stderr
    assert f"stopped pid {holder.pid}" in killed.stderr
    assert holder.wait(timeout=30) == 143
    wait_for(lambda: not group_members(pgid), 5, "the holder's group to be gone")
    again = subprocess.run(
        [runner.shell, str(cq), "kill"], env=env, capture_output=True, text=True, timeout=60
    )
    assert again.returncode == 1 and "nothing to kill" in again.stderr


@pytest.mark.parametrize("shell", ["dash", "bash"])
def test_exec_passes_stdin_and_a_nested_cq_does_not_wait_for_itself(
    shell: str, cq: Path, state: Path
) -> None:
    env = cq_env(state, None, CQ_WAIT_TIMEOUT="5")
    piped = subprocess.run(
        [shell, str(cq), "exec", "cat"], input="hello\n", env=env, capture_output=True, text=True
    )
    assert (piped.returncode, piped.stdout) == (0, "hello\n"), piped.stderr
    nested = subprocess.run(
        [shell, str(cq), "exec", "sh", "-c", '"$0" exec echo inner', str(cq)],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert (nested.returncode, nested.stdout) == (0, "inner\n"), nested.stderr


@pytest.mark.parametrize("shell", ["dash", "bash"])
def test_usage_errors_exit_64(shell: str, cq: Path, state: Path) -> None:
    for args, env in (
        ([], {}),
        (["exec"], {}),
        (["exec", "true"], {"CQ_WAIT_TIMEOUT": "soon"}),
        (["exec", "true"], {"CQ_SCOPE": "galaxy"}),
    ):
        ran = subprocess.run(
            [shell, str(cq), *args], env=cq_env(state, None, **env), capture_output=True, text=True
        )
        assert ran.returncode == 64, (args, env, ran.stderr)
        assert ran.stderr.startswith("cq: ") and ran.stderr.count("\n") == 1


@pytest.mark.parametrize("shell", ["dash", "bash"])
def test_exec_with_stdin_closed(shell: str, cq: Path, state: Path) -> None:
    ran = subprocess.run(
        [shell, "-c", '"$0" exec echo ran <&-', str(cq)],
        env=cq_env(state, None),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert (ran.returncode, ran.stdout, ran.stderr) == (0, "ran\n", "")


def test_a_stale_holder_variable_does_not_skip_the_queue(
    cq: Path, repo: list[Path], state: Path, tmp_path: Path, procs: list[subprocess.Popen[str]]
) -> None:
    gate = tmp_path / "gate"
    holder = _hold(Runner("dash", None), cq, repo[0], state, gate, procs)
    stale = cq_env(
        state, None, CQ_HOLDER_PID=str(os.getpid()), CQ_QUEUE="user", CQ_WAIT_TIMEOUT="1"
    )
    ran = subprocess.run(["dash", str(cq), "exec", "true"], env=stale, capture_output=True)
    assert ran.returncode == 75
    gate.touch()
    assert holder.wait(timeout=30) == 0
