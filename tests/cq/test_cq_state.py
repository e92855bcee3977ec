"""cq's state: a private per-user directory; anything unsafe is refused (exit 77) and a symlink
planted where a state file goes is never followed."""

from __future__ import annotations

import pwd
import shutil
import stat
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import TEST_USER, as_test_user
from cq.cq_helpers import cq_env

SHELLS = pytest.mark.parametrize("shell", ["dash", "bash"])


def _exec_true(shell: str, cq: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [shell, str(cq), "exec", "true"], env=env, capture_output=True, text=True, timeout=60
    )


def _refused(ran: subprocess.CompletedProcess[str], words: str) -> None:
    assert ran.returncode == 77, ran.stderr
    assert ran.stderr.startswith("cq: ") and ran.stderr.count("\n") == 1, ran.stderr
    assert words in ran.stderr


@SHELLS
def test_default_state_dirs_are_created_private(shell: str, cq: Path, tmp_path: Path) -> None:
    runtime = tmp_path / "run"
    runtime.mkdir(mode=0o700)
    env = cq_env(tmp_path, None, XDG_RUNTIME_DIR=str(runtime))
    del env["CQ_STATE_DIR"]
    assert _exec_true(shell, cq, env).returncode == 0
    assert stat.S_IMODE((runtime / "buildkit-cq").stat().st_mode) == 0o700
    env.pop("XDG_RUNTIME_DIR")
    env["HOME"] = str(tmp_path / "home")
    assert _exec_true(shell, cq, env).returncode == 0
    state = tmp_path / "home" / ".cache" / "buildkit-cq"
    assert stat.S_IMODE(state.stat().st_mode) == 0o700
    for path in state.rglob("*"):
        assert stat.S_IMODE(path.lstat().st_mode) & 0o077 == 0, f"{path} is not private"


@SHELLS
def test_a_state_dir_others_can_open_is_refused(shell: str, cq: Path, tmp_path: Path) -> None:
    state = tmp_path / "open"
    state.mkdir(mode=0o755)
    state.chmod(0o755)
    _refused(_exec_true(shell, cq, cq_env(state)), f"chmod 700 '{state}'")
    state.chmod(0o710)
    _refused(_exec_true(shell, cq, cq_env(state)), "accessible to others")


def _follow_hint(ran: subprocess.CompletedProcess[str]) -> None:
    """Run the command cq's refusal names (after `run: `)."""
    hint = ran.stderr.rstrip("\n").split("; run: ", 1)[1]
    subprocess.run(["sh", "-c", hint], check=True, timeout=60)


@SHELLS
@pytest.mark.parametrize("unsafe", ["setgid", "acl", "setgid+acl", "group"])
def test_the_hint_for_a_state_dir_others_can_open_makes_it_private(
    shell: str, cq: Path, tmp_path: Path, unsafe: str
) -> None:
    # chmod 700 neither clears a directory's setgid bit (GNU chmod) nor removes an ACL: the hint
    # names what does, and following it is enough for cq to run.
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    if "setgid" in unsafe:
        state.chmod(0o2700)
    if "acl" in unsafe:
        subprocess.run(["setfacl", "-m", "u:65534:rwx", str(state)], check=True)
    if unsafe == "group":
        state.chmod(0o750)
    ran = _exec_true(shell, cq, cq_env(state))
    _refused(ran, "accessible to others")
    assert ("chmod g-s" in ran.stderr) == ("setgid" in unsafe)
    assert ("setfacl -b" in ran.stderr) == ("acl" in unsafe)
    _follow_hint(ran)
    done = _exec_true(shell, cq, cq_env(state))
    assert done.returncode == 0, done.stderr
    assert stat.S_IMODE(state.stat().st_mode) == 0o700


@SHELLS
def test_a_symlinked_state_dir_is_refused(shell: str, cq: Path, tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.mkdir(mode=0o700)
    link = tmp_path / "link"
    link.symlink_to(real)
    _refused(_exec_true(shell, cq, cq_env(link)), "symbolic link")
    assert list(real.iterdir()) == []


@pytest.fixture
def drop() -> Iterator[Path]:
    """A folder where anyone may create entries (sticky, unlistable): where another user can
    make a directory of their own for us to be pointed at."""
    folder = Path(tempfile.mkdtemp(prefix="buildkit-drop-"))
    folder.chmod(0o1733)
    yield folder
    shutil.rmtree(folder)


@SHELLS
def test_a_state_dir_owned_by_someone_else_is_refused(shell: str, cq: Path, drop: Path) -> None:
    state = drop / "theirs"
    subprocess.run(as_test_user(["mkdir", "-m", "700", str(state)]), check=True)
    assert state.stat().st_uid == pwd.getpwnam(TEST_USER).pw_uid
    _refused(_exec_true(shell, cq, cq_env(state)), "not owned by you")
    assert list(state.iterdir()) == []


@SHELLS
@pytest.mark.parametrize("planted", ["user.d/lock", "user.d/ticket.lock", "user.d/waiters"])
def test_a_symlink_planted_at_a_lock_or_folder_is_refused(
    shell: str, cq: Path, state: Path, tmp_path: Path, planted: str
) -> None:
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    (state / "user.d").mkdir(mode=0o700)
    (state / planted).symlink_to(victim)
    ran = _exec_true(shell, cq, cq_env(state))
    _refused(ran, "symbolic link")
    assert victim.read_text() == "precious\n"


@SHELLS
@pytest.mark.parametrize("planted", ["user.holder", "user.d/seq"])
def test_a_symlink_planted_at_a_record_is_replaced_not_followed(
    shell: str, cq: Path, state: Path, tmp_path: Path, planted: str
) -> None:
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    (state / "user.d").mkdir(mode=0o700)
    (state / planted).symlink_to(victim)
    # a ticket left by a waiter that died: the queue is not free, so cq draws a ticket (and
    # writes `seq`) instead of taking the lock at once
    (state / "user.d" / "waiters").mkdir(mode=0o700)
    (state / "user.d" / "waiters" / "000000000000.999999").write_text("pid=999999\n")
    assert _exec_true(shell, cq, cq_env(state)).returncode == 0
    assert victim.read_text() == "precious\n"
    assert not (state / planted).is_symlink()
    assert not list((state / "user.d" / "waiters").iterdir())


def test_the_script_never_names_a_shared_temporary_dir(cq: Path) -> None:
    text = cq.read_text()
    assert "/tmp" not in text and "TMPDIR" not in text and "mktemp" not in text
