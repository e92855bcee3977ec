"""The cargo shim, run for real as `cargo` on PATH under dash and bash: heavy commands hold
cq's queue with its incremental policy, the rest run at once, and nothing recurses."""

from __future__ import annotations

import itertools
import os
import subprocess
import uuid
from pathlib import Path

import pytest

from agents.agents_helpers import SHIM_DIR, clean_env, hold_queue_until, read_runs
from agents.conftest import shim_path
from cq.cq_helpers import holder_record, macos_bin, wait_for

SHELLS = ["dash", "bash"]


def _run(
    shell: str, command: str, cwd: Path, path: str, state: Path, log: Path, **extra: str
) -> tuple[subprocess.CompletedProcess[str], dict[str, object]]:
    run = uuid.uuid4().hex
    env = clean_env(
        state,
        PATH=path,
        CQ_TEST_LOG=str(log),
        CQ_TEST_RUN=run,
        **{"CQ_WAIT_TIMEOUT": "60", **extra},
    )
    ran = subprocess.run(
        [shell, "-c", command], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )
    runs = [r for r in read_runs(log) if r["run"] == run]
    assert len(runs) == 1, (ran.stdout, ran.stderr, runs)
    return ran, runs[0]


@pytest.mark.parametrize("shell", SHELLS)
def test_heavy_commands_hold_the_queue_with_cqs_incremental_policy(
    shell: str, agents_repo: list[Path], state: Path, tmp_path: Path
) -> None:
    repo = agents_repo[0]
    log = tmp_path / "log"
    ran, build = _run(shell, "cargo build --quiet", repo, shim_path(repo), state, log)
    assert ran.returncode == 0, ran.stderr
    assert build["holder"] is not None, "cargo build did not run holding the queue"
    assert build["incremental"] is None  # build is not one-shot: cargo's own default
    ran, check = _run(shell, "cargo check --quiet", repo, shim_path(repo), state, log)
    assert ran.returncode == 0, ran.stderr
    # check is read again in the edit-test loop: incremental kept (cargo's own default)
    assert check["holder"] is not None and check["incremental"] is None
    ran, doc = _run(shell, "cargo doc --quiet", repo, shim_path(repo), state, log)
    assert ran.returncode == 0, ran.stderr
    assert doc["holder"] is not None and doc["incremental"] == "0"  # one-shot
    # cargo sets CARGO for build scripts to the real cargo, never to the shim
    assert check["cargo"] is not None and SHIM_DIR not in str(check["cargo"])


@pytest.mark.parametrize("shell", SHELLS)
def test_no_recursion_when_the_shim_is_on_path_twice_and_through_symlinks(
    shell: str, agents_repo: list[Path], state: Path, tmp_path: Path
) -> None:
    repo = agents_repo[0]
    linked_dir = tmp_path / "linked-dir"
    linked_dir.symlink_to(repo / SHIM_DIR)
    linked_file = tmp_path / "linked-file"
    linked_file.mkdir()
    (linked_file / "cargo").symlink_to(repo / SHIM_DIR / "cargo")
    path = shim_path(repo, str(linked_file), str(linked_dir), str(repo / SHIM_DIR))
    ran, test = _run(shell, "cargo test --quiet", repo, path, state, tmp_path / "log")
    assert ran.returncode == 0, ran.stderr
    assert test["holder"] is not None and test["incremental"] is None


@pytest.mark.parametrize("shell", SHELLS)
def test_no_other_cargo_on_path_is_one_clear_line_and_exit_127(
    shell: str, agents_repo: list[Path], state: Path, tmp_path: Path
) -> None:
    repo = agents_repo[0]
    linked_dir = tmp_path / "linked-dir"
    linked_dir.symlink_to(repo / SHIM_DIR)
    path = f"{repo / SHIM_DIR}:{linked_dir}:/usr/bin:/bin"
    ran = subprocess.run(
        [shell, "-c", "cargo build"],
        cwd=repo,
        env=clean_env(state, PATH=path),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert ran.returncode == 127
    assert ran.stderr.count("\n") == 1 and "no other cargo on PATH" in ran.stderr


@pytest.mark.parametrize("shell", SHELLS)
def test_toolchain_override_reaches_rustup(
    shell: str, agents_repo: list[Path], state: Path, tmp_path: Path
) -> None:
    """`cargo +TOOLCHAIN` answers through the shim exactly as rustup's proxy does without it,
    for an installed toolchain and for one that does not exist (rustup's own error)."""
    repo = agents_repo[0]
    env = clean_env(state, PATH=shim_path(repo))
    for toolchain in ("stable", "no-such-toolchain-here"):
        line = f"cargo +{toolchain} --version"
        via_shim = subprocess.run(
            [shell, "-c", line], cwd=repo, env=env, capture_output=True, text=True
        )
        direct_env = {**env, "PATH": shim_path(repo).split(os.pathsep, 1)[1]}
        direct = subprocess.run(
            [shell, "-c", line], cwd=repo, env=direct_env, capture_output=True, text=True
        )
        assert (via_shim.returncode, via_shim.stdout, via_shim.stderr) == (
            direct.returncode,
            direct.stdout,
            direct.stderr,
        )
    assert direct.returncode != 0 and "no-such-toolchain-here" in direct.stderr
    ran, build = _run(
        shell, "cargo +stable build --quiet", repo, shim_path(repo), state, tmp_path / "log"
    )
    assert ran.returncode == 0, ran.stderr
    assert build["holder"] is not None


def test_direnv_puts_the_shim_first_and_cq_next(agents_repo: list[Path], tmp_path: Path) -> None:
    """The real direnv loads the rendered .envrc block."""
    repo = agents_repo[0]
    env = {
        "PATH": shim_path(repo).split(os.pathsep, 1)[1],
        "HOME": str(tmp_path),
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "XDG_DATA_HOME": str(tmp_path / "data"),
    }
    subprocess.run(["direnv", "allow", str(repo)], env=env, check=True, capture_output=True)
    ran = subprocess.run(
        ["direnv", "exec", str(repo), "sh", "-c", "command -v cargo; command -v cq"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert ran.stdout.splitlines() == [f"{repo}/{SHIM_DIR}/cargo", f"{repo}/scripts/cq"]


@pytest.mark.parametrize("shell", SHELLS)
def test_cargo_started_inside_a_held_build_runs_at_once(
    shell: str, agents_repo: list[Path], state: Path, tmp_path: Path
) -> None:
    """A build script that runs cargo again, through the shim put back first on PATH and
    through $CARGO, while its own build holds the queue: a nested cq that waited would give
    up after CQ_WAIT_TIMEOUT (exit 75) instead of finishing."""
    repo = agents_repo[0]
    shim = repo / SHIM_DIR
    nested = (
        f'PATH="{shim}:$PATH" cargo test --help >/dev/null'
        f' && PATH="{shim}:$PATH" cargo metadata --format-version 1 --no-deps >/dev/null'
        ' && "$CARGO" --version >/dev/null'
    )
    ran, build = _run(
        shell,
        "cargo build --quiet",
        repo,
        shim_path(repo),
        state,
        tmp_path / "log",
        CQ_TEST_NESTED=nested,
        CQ_WAIT_TIMEOUT="5",
    )
    assert ran.returncode == 0, ran.stderr
    assert build["holder"] is not None
    assert build["nested_rc"] == 0, ran.stderr
    assert isinstance(build["nested_s"], float) and build["nested_s"] < 5


@pytest.mark.parametrize("shell", SHELLS)
def test_non_heavy_commands_run_at_once_and_unchanged_while_the_queue_is_held(
    shell: str, agents_repo: list[Path], state: Path, tmp_path: Path
) -> None:
    repo = agents_repo[0]
    gate = tmp_path / "gate"
    env = clean_env(state, PATH=shim_path(repo))
    holder = hold_queue_until(repo, env, gate)
    try:
        wait_for(lambda: holder_record(state), 30, "the holder")
        for command in (
            "cargo metadata --format-version 1 --no-deps",
            "cargo fmt --check",
            "cargo tree",
        ):
            via_shim = subprocess.run(
                [shell, "-c", command],
                cwd=repo,
                env=env,
                capture_output=True,
                text=True,
                timeout=60,
            )
            direct_env = {**env, "PATH": shim_path(repo).split(os.pathsep, 1)[1]}
            direct = subprocess.run(
                [shell, "-c", command], cwd=repo, env=direct_env, capture_output=True, text=True
            )
            assert (via_shim.returncode, via_shim.stdout) == (direct.returncode, direct.stdout), (
                command
            )
        assert holder.poll() is None  # still holding: nothing above waited for it
    finally:
        gate.touch()
        holder.wait(timeout=30)


def test_rendered_shim_is_shellcheck_clean_and_posix(agents_repo: list[Path]) -> None:
    shim = agents_repo[0] / SHIM_DIR / "cargo"
    hook = agents_repo[0] / ".config/buildkit/hooks/claude-session-start.sh"
    for dialect, script in itertools.product(("sh", "dash", "bash"), (shim, hook)):
        ran = subprocess.run(
            ["shellcheck", "--shell", dialect, "--severity", "style", str(script)],
            capture_output=True,
            text=True,
        )
        assert ran.returncode == 0, ran.stdout
    assert os.access(shim, os.X_OK)
    assert shim.read_text().startswith("#!/bin/sh\n# generated by buildkit")


def test_heavy_command_holds_the_queue_with_flock_and_setsid_hidden(
    agents_repo: list[Path], state: Path, tmp_path: Path
) -> None:
    """As on macOS: no flock, setsid or nproc on PATH (cq falls back to perl), dash as sh."""
    repo = agents_repo[0]
    hidden = macos_bin(tmp_path / "bin")
    path = f"{repo / SHIM_DIR}:{hidden}"
    ran, check = _run("dash", "cargo check --quiet", repo, path, state, tmp_path / "log")
    assert ran.returncode == 0, ran.stderr
    assert check["holder"] is not None and check["incremental"] is None
