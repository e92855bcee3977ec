"""Typed errors: each kind has its exit code and one line in one place (errors.py); a conflict
is told apart by its kind and carries its profile key, never parsed back out of a message;
a tool that fails or a broken installation is not "bad input"; doctor never hides a failure
to ask cq who holds the queue behind "nobody"."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from buildkit.diagnose import queue
from buildkit.errors import (
    EXIT_BAD_INPUT,
    EXIT_DRIFT,
    EXIT_FAILED,
    BadInput,
    CheckFailed,
    EnvironmentProblem,
    InternalError,
    ToolFailed,
    WriteFailed,
    exit_code_of,
    one_line,
)
from buildkit.project import ConflictError
from buildkit.render.apply import Status, compute_changes
from buildkit.render.ownership import ConflictKind, ManagedKey, MergedToml
from conftest import run_buildkit


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (BadInput("x"), EXIT_BAD_INPUT),
        (EnvironmentProblem("x"), EXIT_BAD_INPUT),
        (CheckFailed("x"), EXIT_DRIFT),
        (WriteFailed("x"), EXIT_DRIFT),
        (ToolFailed("x"), EXIT_FAILED),
        (InternalError("x"), EXIT_FAILED),
    ],
)
def test_each_kind_has_its_exit_code(error: BadInput, code: int) -> None:
    assert exit_code_of(error) == code


def test_an_error_carries_where_and_prints_one_line() -> None:
    error = BadInput(
        "buildkit.yaml:3: cq.jbos: unknown key\nsecond", path="buildkit.yaml", key="cq.jbos"
    )
    assert (error.path, error.key) == ("buildkit.yaml", "cq.jbos")
    assert one_line(error) == "buildkit: error: buildkit.yaml:3: cq.jbos: unknown key second"
    assert "report it" in one_line(InternalError("templates/cq.sh: markers missing"))


def test_a_users_key_conflict_carries_the_profile_key(tmp_path: Path) -> None:
    (tmp_path / ".cargo").mkdir()
    (tmp_path / ".cargo/config.toml").write_text("[build]\njobs = 3\n")
    artifact = MergedToml(
        ".cargo/config.toml", (ManagedKey(("build", "jobs"), 2, "cargo.jobs"),), base=tmp_path
    )
    (change,) = compute_changes(tmp_path, [artifact])
    assert change.status is Status.CONFLICT
    assert (change.conflict, change.profile_key) == (ConflictKind.USER_KEY, "cargo.jobs")
    message = str(ConflictError([change], tmp_path))
    assert "set cargo.jobs to it (or to null) in buildkit.yaml" in message


def test_a_failing_cargo_hakari_is_a_tool_failure_not_bad_input(example: Path) -> None:
    from buildkit.render.hakari import _hakari

    with pytest.raises(ToolFailed) as caught:
        _hakari(example, "no-such-subcommand")
    assert exit_code_of(caught.value) == EXIT_FAILED


def test_doctor_says_when_cq_cannot_be_asked_instead_of_nobody(
    example: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # With no HOME, XDG_RUNTIME_DIR or CQ_STATE_DIR cq has no state dir and its contract
    # fails: doctor must not call that "no holders" (it would then report a held build's
    # processes as orphans). cargo and rustup keep their homes.
    home = Path.home()
    monkeypatch.setenv("CARGO_HOME", os.environ.get("CARGO_HOME", str(home / ".cargo")))
    monkeypatch.setenv("RUSTUP_HOME", os.environ.get("RUSTUP_HOME", str(home / ".rustup")))
    for name in ("HOME", "XDG_RUNTIME_DIR", "CQ_STATE_DIR"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(ToolFailed, match=r"__contract` failed .*no place for cq's state"):
        queue.live_holders()
    subprocess.run(["git", "init", "-q"], cwd=example, check=True)
    ran = run_buildkit("doctor", example)
    assert ran.exit_code == EXIT_FAILED
    assert ran.stderr.count("\n") == 1 and "__contract` failed" in ran.stderr


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["init", "--yess"], "No such option: --yess"),
        (["chek"], "No such command 'chek'"),
        (["worktree", "add"], "Missing argument 'name'"),
        (["gc", "--keep", "x"], "Invalid value for '--keep'"),
    ],
)
def test_a_command_line_mistake_is_one_line_naming_it(
    args: list[str], needle: str, tmp_path: Path
) -> None:
    # the installed command (`buildkit` is `python -m buildkit`'s main), not typer's test
    # runner: typer's own usage block is five lines in a box
    ran = subprocess.run(
        [sys.executable, "-m", "buildkit", *args],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert ran.returncode == 2
    assert ran.stdout == ""
    assert ran.stderr.count("\n") == 1 and needle in ran.stderr, ran.stderr
    assert "--help" in ran.stderr and "Traceback" not in ran.stderr


def test_buildkit_alone_prints_its_help(tmp_path: Path) -> None:
    ran = subprocess.run(
        [sys.executable, "-m", "buildkit"], cwd=tmp_path, capture_output=True, text=True
    )
    assert ran.returncode == 2
    assert "Usage: buildkit" in ran.stdout + ran.stderr and "init" in ran.stdout + ran.stderr
