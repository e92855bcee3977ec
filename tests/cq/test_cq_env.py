"""What cq sets for the command it runs: incremental policy, burst jobs, toolchains, the shared
build dir, and which queue (scope) a worktree uses. Observed inside the real build script."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from buildkit.diagnose import queue as queue_module
from cq.conftest import Runner
from cq.cq_helpers import cq_env, holder_record, make_repo, render_cq, started, wait_for

ONLINE_CPUS = str(len(os.sched_getaffinity(0)))


def _seen(
    runner: Runner, cq: Path, cwd: Path, state: Path, args: list[str], **env: str
) -> dict[str, object]:
    """Run cq ARGS and return what the build script saw."""
    log = state.parent / "env.log"
    run = f"{runner.id}-{state.parent.name}-{cq}-{' '.join(args)}-{sorted(env.items())}"
    full = cq_env(state, runner.path, CQ_TEST_LOG=str(log), CQ_TEST_RUN=run, **env)
    ran = subprocess.run(
        [runner.shell, str(cq), *args], cwd=cwd, env=full, capture_output=True, text=True
    )
    assert ran.returncode == 0, ran.stderr
    entry = started(log, run)
    assert entry is not None, f"the build script did not run for {args}"
    return entry


@pytest.mark.parametrize(
    ("args", "incremental"),
    [
        (["build", "--quiet"], None),
        # the edit-test loop keeps incremental (read again after the next edit)
        (["check", "--quiet"], None),
        (["test", "--quiet"], None),
        (["clippy", "--quiet"], None),
        (["nextest", "run", "--no-fail-fast"], None),
        # one-shot: written and never read again
        (["doc", "--quiet"], "0"),
        (["+stable", "doc", "--quiet"], "0"),
        (["--color", "never", "doc", "--quiet"], "0"),
    ],
    ids=["build", "check", "test", "clippy", "nextest", "doc", "toolchain", "global-option"],
)
def test_incremental_is_off_for_one_shot_commands_and_on_for_build(
    runner3: Runner, cq: Path, repo: list[Path], state: Path, args: list[str], incremental: str
) -> None:
    seen = _seen(runner3, cq, repo[0], state, args)
    assert seen["incremental"] == incremental
    assert seen["jobs"] == ONLINE_CPUS, "burst mode: the holder gets every core"


@pytest.mark.parametrize("shell", ["dash", "bash"])
def test_values_the_user_set_win(shell: str, cq: Path, repo: list[Path], state: Path) -> None:
    runner = Runner(shell, None)
    seen = _seen(runner, cq, repo[0], state, ["test", "--quiet"], CARGO_INCREMENTAL="1")
    assert seen["incremental"] == "1"
    seen = _seen(runner, cq, repo[0], state, ["build", "--quiet"], CARGO_BUILD_JOBS="1")
    assert seen["jobs"] == "1"


def test_burst_overrides_a_lower_config_jobs_unless_off_or_cargo_jobs_set(
    tmp_path: Path, repo: list[Path], state: Path
) -> None:
    runner = Runner("dash", None)
    checkout = repo[2]
    config = checkout / ".cargo" / "config.toml"
    config.parent.mkdir()
    config.write_text("[build]\njobs = 1\n")
    try:
        burst = _seen(runner, render_cq(tmp_path / "on" / "cq"), checkout, state, ["build", "-q"])
        assert burst["jobs"] == ONLINE_CPUS
        off = render_cq(tmp_path / "off" / "cq", burst=False)
        assert _seen(runner, off, checkout, state, ["build", "-q"])["jobs"] == "1"
        profile_jobs = render_cq(tmp_path / "jobs" / "cq", {"cargo": {"jobs": 1}})
        assert _seen(runner, profile_jobs, checkout, state, ["build", "-q"])["jobs"] == "1"
    finally:
        config.unlink()
        config.parent.rmdir()


def test_every_worktree_builds_in_its_own_target_dir(
    tmp_path: Path, repo: list[Path], state: Path
) -> None:
    # cq passes cargo no build-dir and no target dir: with several worktrees each builds in its
    # own target/ (compiled units are shared by the compiler cache, never by a shared dir)
    runner = Runner("dash", None)
    cq = render_cq(tmp_path / "cq" / "cq")
    for checkout in repo[:2]:
        (checkout / "build.rs").touch()  # the build script runs again and reports its OUT_DIR
        seen = _seen(runner, cq, checkout, state, ["build", "--quiet"], WHERE=checkout.name)
        out_dir = str(seen["out_dir"])
        assert out_dir.startswith(f"{checkout}/") and "/target/debug/" in out_dir, out_dir


def test_repository_scope_shares_a_queue_between_worktrees_only(
    tmp_path: Path,
    repo: list[Path],
    state: Path,
    procs: list[subprocess.Popen[str]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    scoped = render_cq(tmp_path / "scoped" / "cq", scope="repository")
    gate = tmp_path / "gate"
    env = cq_env(state, None)
    holder = subprocess.Popen(
        ["dash", str(scoped), "exec", "sh", "-c", 'while [ ! -e "$0" ]; do sleep 0.05; done', gate],
        cwd=repo[0],
        env=env,
    )
    procs.append(holder)
    records = wait_for(lambda: list(state.glob("repo-*.holder")), 30, "the repository's holder")
    assert not (state / "user.holder").exists()
    # doctor and gc see the per-repository holder
    monkeypatch.setenv("CQ_STATE_DIR", str(state))
    assert [h.pid for h in queue_module.live_holders()] == [holder.pid]
    timed = cq_env(state, None, CQ_WAIT_TIMEOUT="1")
    same = subprocess.run(
        ["dash", str(scoped), "exec", "true"], cwd=repo[2], env=timed, capture_output=True
    )
    assert same.returncode == 75, "another worktree of the repository must wait"
    (other,) = make_repo(tmp_path / "other")
    elsewhere = subprocess.run(
        ["dash", str(scoped), "exec", "true"], cwd=other, env=timed, capture_output=True
    )
    assert elsewhere.returncode == 0, "another repository has its own queue"
    user = render_cq(tmp_path / "user" / "cq", scope="user")
    shared = subprocess.run(
        ["dash", str(user), "exec", "true"], cwd=other, env=timed, capture_output=True
    )
    assert shared.returncode == 0, "the user queue is a different queue"
    gate.touch()
    assert holder.wait(timeout=30) == 0
    assert holder_record(state, records[0].name.removesuffix(".holder")) is None
