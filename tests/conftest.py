"""Shared fixtures: real workspaces copied into tmp_path, and the CLI run in-process."""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner

from buildkit.cli import app

# A suite started under nohup inherits SIGHUP ignored, and so would every cq it starts: a
# shell cannot trap a signal ignored on entry, so cq's HUP handling (tests/cq/test_signals.py)
# could not be tested. The suite's children get the default disposition back.
if signal.getsignal(signal.SIGHUP) == signal.SIG_IGN:
    signal.signal(signal.SIGHUP, signal.SIG_DFL)

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "examples" / "hello-workspace"
SEEDLIKE = REPO / "bench" / "workspaces" / "seedlike"


def build_file_tree(root: Path, spec: Mapping[str, str | bytes]) -> Path:
    """Create files from {relative path: content} under ``root``."""
    for relative, content in spec.items():
        target = root / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            target.write_bytes(content)
        else:
            target.write_text(content, encoding="utf-8")
    return root


# Shell: cq's queue held by a command that marks, once it runs (so the queue is held), a file
# in a private temporary folder; the script goes on once the mark is there (at most 60s).
HOLD_THE_QUEUE = (
    'held_mark="$(mktemp -d)/held";'
    """ cq exec sh -c ': >"$0"; exec sleep 30' "$held_mark" & i=0;"""
    ' until [ -e "$held_mark" ]; do i=$((i + 1));'
    ' [ "$i" -le 1200 ] || { echo the queue was never held; exit 1; }; sleep 0.05; done;'
)

# The second, unprivileged user of the security tests (dev/setup.d/30-test-user.sh makes it).
TEST_USER = "buildkit-test"


def as_test_user(argv: list[str]) -> list[str]:
    """``argv`` run as TEST_USER through setpriv: another user's side of a security test. Its
    absence, or a suite not run as root, is a failure (CI runs as root), never a skip."""
    try:
        user = pwd.getpwnam(TEST_USER)
    except KeyError:
        pytest.fail(f"no user {TEST_USER}: dev/setup.d/30-test-user.sh creates it (sh dev/test.sh)")
    if os.geteuid() != 0:
        pytest.fail(f"starting a process as {TEST_USER} needs root: run it as root (CI does)")
    return ["setpriv", f"--reuid={user.pw_uid}", f"--regid={user.pw_gid}", "--clear-groups", *argv]


@dataclass
class Ran:
    exit_code: int
    stdout: str
    stderr: str


def run_buildkit(*args: str | Path) -> Ran:
    """Run the CLI in-process, stdout and stderr kept apart."""
    result = CliRunner().invoke(app, [str(a) for a in args], catch_exceptions=False)
    return Ran(result.exit_code, result.stdout, result.stderr)


@pytest.fixture
def example(tmp_path: Path) -> Path:
    """A fresh copy of examples/hello-workspace (no crates.io dependencies)."""
    return Path(shutil.copytree(EXAMPLE, tmp_path / "hello-workspace"))


@pytest.fixture
def seedlike(tmp_path: Path) -> Path:
    """A fresh copy of bench/workspaces/seedlike (needs crates.io to build)."""
    if not SEEDLIKE.is_dir():
        pytest.fail(f"the seedlike fixture is missing: {SEEDLIKE}")
    return Path(shutil.copytree(SEEDLIKE, tmp_path / "seedlike-workspace"))


@pytest.fixture(autouse=True)
def private_cq_state(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """Every test's cq (and gc, which holds cq's queue) keeps its state in a private folder,
    never the machine user's ~/.cache/buildkit-cq; a test that needs another sets its own."""
    state = tmp_path_factory.mktemp("cq-state")
    state.chmod(0o700)
    monkeypatch.setenv("CQ_STATE_DIR", str(state))
    return state


@pytest.fixture(scope="session", autouse=True)
def private_admission() -> Iterator[Path]:
    """Every build in the tests takes its slots of the CPU budget (the rendered rustc wrapper
    and runner) in the test session's own folder, never the machine user's; a test that needs
    another (the admission tests, through HOME) unsets it."""
    directory = Path(tempfile.mkdtemp(prefix="bk-admission-"))
    previous = os.environ.get("BUILDKIT_ADMISSION_DIR")
    os.environ["BUILDKIT_ADMISSION_DIR"] = str(directory)
    # the admission's perl warns only when asked (its start stays short in real builds)
    os.environ["BUILDKIT_PERL_WARNINGS"] = "1"
    yield directory
    if previous is None:
        os.environ.pop("BUILDKIT_ADMISSION_DIR", None)
    else:
        os.environ["BUILDKIT_ADMISSION_DIR"] = previous
    shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture(scope="session", autouse=True)
def private_compiler_cache() -> Iterator[Path]:
    """Every build in the tests goes through the rendered rustc wrapper with a compiler cache
    of the test session's own (a short path: the cache's unix socket lives in it), never the
    machine user's; its server is stopped at the end."""
    directory = Path(tempfile.mkdtemp(prefix="bk-cache-"))
    previous = os.environ.get("BUILDKIT_CACHE_DIR")
    os.environ["BUILDKIT_CACHE_DIR"] = str(directory)
    yield directory
    sccache = shutil.which("sccache")
    if sccache and (directory / "sock").exists():
        env = {**os.environ, "SCCACHE_SERVER_UDS": str(directory / "sock")}
        subprocess.run([sccache, "--stop-server"], env=env, capture_output=True, check=False)
    if previous is None:
        os.environ.pop("BUILDKIT_CACHE_DIR", None)
    else:
        os.environ["BUILDKIT_CACHE_DIR"] = previous
    shutil.rmtree(directory, ignore_errors=True)
