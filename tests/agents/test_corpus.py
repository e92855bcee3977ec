"""The corpus, run for real: each line is one agent Bash command, a fresh `bash -c` or `sh -c`
that first sources the file the real SessionStart hook wrote to CLAUDE_ENV_FILE (as Claude
Code does before every command). Heavy lines must run holding cq's queue (the build script
sees CQ_HOLDER_PID, which only cq's holder exports) with cq's incremental policy; plain lines
must run at once, while another build holds the queue, and print what they print without
the shim."""

from __future__ import annotations

import itertools
import subprocess
import uuid
from pathlib import Path

import pytest

from agents.agents_helpers import (
    HEAVY_CORPUS,
    ONESHOT,
    PLAIN_CORPUS,
    agent_shell,
    clean_env,
    hold_queue_until,
    read_runs,
    session_env_file,
)
from agents.conftest import REAL_CARGO_DIR
from cq.cq_helpers import holder_record, wait_for

SHELLS = ["bash", "sh"]
BASE_PATH = f"{REAL_CARGO_DIR}:/usr/local/bin:/usr/bin:/bin"


def test_the_corpus_is_big_enough() -> None:
    assert len(HEAVY_CORPUS) + len(PLAIN_CORPUS) >= 40


@pytest.mark.parametrize("shell", SHELLS)
@pytest.mark.parametrize(("line", "subcommand"), HEAVY_CORPUS)
def test_heavy_line_holds_the_queue_with_cqs_incremental_policy(
    shell: str, line: str, subcommand: str, agents_repo: list[Path], state: Path, tmp_path: Path
) -> None:
    repo = agents_repo[0]
    env_file = session_env_file(repo, tmp_path, state)
    log = tmp_path / "log"
    run = uuid.uuid4().hex
    env = clean_env(state, PATH=BASE_PATH, CQ_TEST_LOG=str(log), CQ_TEST_RUN=run)
    ran = agent_shell(shell, env_file, line, repo, env, timeout=300)
    assert ran.returncode == 0, ran.stderr
    runs = [r for r in read_runs(log) if r["run"] == run]
    assert len(runs) == 1, (line, ran.stderr)
    assert runs[0]["holder"] is not None, f"{line!r} did not hold the queue"
    expected = "0" if subcommand in ONESHOT else None
    assert runs[0]["incremental"] == expected, line


@pytest.mark.parametrize("shell", SHELLS)
def test_plain_lines_run_at_once_and_unchanged_while_another_build_holds_the_queue(
    shell: str, agents_repo: list[Path], state: Path, tmp_path: Path
) -> None:
    repo = agents_repo[1]
    env_file = session_env_file(repo, tmp_path, state)
    log = tmp_path / "log"
    env = clean_env(state, PATH=BASE_PATH, CQ_TEST_LOG=str(log), CQ_TEST_RUN=uuid.uuid4().hex)
    gate = tmp_path / "gate"
    holder = hold_queue_until(repo, env, gate)
    try:
        wait_for(lambda: holder_record(state), 30, "the holder")
        for line in PLAIN_CORPUS:
            via_shim = agent_shell(shell, env_file, line, repo, env, timeout=60)
            direct = subprocess.run(
                [shell, "-c", line], cwd=repo, env=env, capture_output=True, text=True, timeout=60
            )
            assert (via_shim.returncode, via_shim.stdout) == (direct.returncode, direct.stdout), (
                line
            )
        assert holder.poll() is None, "the holder finished: a plain line may have waited for it"
        assert read_runs(log) == [], "a plain line ran a build"
    finally:
        gate.touch()
        holder.wait(timeout=30)


def test_eight_raw_cargo_builds_from_three_worktrees_never_overlap(
    agents_repo: list[Path], state: Path, tmp_path: Path
) -> None:
    """The cq queue test with plain `cargo` as the command: each agent's env file comes from
    its own worktree's SessionStart hook."""
    log = tmp_path / "builds.log"
    env_files = []
    for n, checkout in enumerate(agents_repo):
        where = tmp_path / f"session{n}"
        where.mkdir()
        env_files.append(session_env_file(checkout, where, state))
    procs = []
    for i in range(8):
        env = clean_env(
            state,
            PATH=BASE_PATH,
            CQ_TEST_LOG=str(log),
            CQ_TEST_RUN=f"raw-{tmp_path.name}-{i}",
            CQ_TEST_SLEEP_MS="700",
        )
        shell = SHELLS[i % 2]
        script = f". '{env_files[i % 3]}'\ncargo build --quiet"
        procs.append(
            subprocess.Popen(
                [shell, "-c", script],
                cwd=agents_repo[i % 3],
                env=env,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    for proc in procs:
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
    runs = sorted(read_runs(log), key=lambda r: r["start"])
    assert len(runs) == 8 and all(r["holder"] is not None for r in runs)
    for first, second in itertools.pairwise(runs):
        assert second["start"] >= first["end"], f"{second['run']} overlapped {first['run']}"


def test_without_the_shim_the_same_raw_builds_overlap(
    agents_repo: list[Path], tmp_path: Path
) -> None:
    """The control: raw cargo with the real cargo first on PATH runs the builds at once."""
    log = tmp_path / "plain.log"
    procs = []
    for i, checkout in enumerate(agents_repo):
        env = clean_env(
            tmp_path,
            PATH=BASE_PATH,
            CQ_TEST_LOG=str(log),
            CQ_TEST_RUN=f"plain-{tmp_path.name}-{i}",
            CQ_TEST_SLEEP_MS="2000",
        )
        procs.append(subprocess.Popen(["sh", "-c", "cargo build --quiet"], cwd=checkout, env=env))
    assert [p.wait(timeout=120) for p in procs] == [0, 0, 0]
    runs = sorted(read_runs(log), key=lambda r: r["start"])
    assert all(r["holder"] is None for r in runs)
    assert sum(b["start"] < a["end"] for a, b in itertools.pairwise(runs)) >= 1
