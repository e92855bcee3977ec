"""A rendered repository whose builds take slots of a CPU budget, and a test that holds it.

The budget's folder follows HOME (templates/rustc-wrapper.sh), so the tests give every build a
private HOME, whose `.cargo/bin` and `.rustup` lead to the machine's toolchain (so
`~/.cargo/bin/cargo` and `env -i HOME=...` work as on a laptop), and unset the session's
BUILDKIT_ADMISSION_DIR (an `env -i` would drop it anyway).
"""

from __future__ import annotations

import fcntl
import functools
import hashlib
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Literal

from buildkit.diagnose.admission import HOLDER_ID
from conftest import run_buildkit

REAL_HOME = Path("~").expanduser()
CARGO_BIN = Path(os.environ.get("CARGO_HOME", str(REAL_HOME / ".cargo"))) / "bin"
RUSTUP_HOME = Path(os.environ.get("RUSTUP_HOME", str(REAL_HOME / ".rustup")))
JOBS = 2
PROFILE = f"""version: 1
hakari:
  enabled: false
cache:
  engine: none
ci:
  enabled: false
devcontainer:
  enabled: false
admission:
  jobs: {JOBS}
"""
CARGO_TOML = """[package]
name = "tiny"
version = "0.1.0"
edition = "2021"

[lib]
doctest = false
"""
LIB = """pub fn answer() -> u32 {
    42
}

#[test]
fn it_answers() {
    assert_eq!(answer(), 42);
}
"""
MAIN = 'fn main() {\n    println!("{}", tiny::answer());\n}\n'


def wait_for(what: str, condition: Callable[[], object], deadline: float = 60.0) -> object:
    """Poll ``condition`` until it returns something truthy; fail after ``deadline`` s."""
    end = time.monotonic() + deadline
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > end:
            raise AssertionError(f"timed out after {deadline}s waiting for {what}")
        time.sleep(0.02)


WRAPPER_TEMPLATE = Path(__file__).resolve().parents[2] / "templates" / "rustc-wrapper.sh"

Holder = Literal["compiled", "perl", "none"]


def holder_source() -> tuple[str, str]:
    """The compiled holder's source in the wrapper template, and the id the template gives it."""
    text = WRAPPER_TEMPLATE.read_text()
    source = text.split("\n: <<'BK_HOLDER_RS'\n", 1)[1].split("\nBK_HOLDER_RS\n", 1)[0] + "\n"
    found = HOLDER_ID.search(text)
    assert found, "no bk_holder_id line in the wrapper template"
    return source, found.group(1)


def holder_id(source: str) -> str:
    return hashlib.sha256(source.encode()).hexdigest()[:16]


@functools.cache
def prebuilt_holder() -> Path:
    """The compiled holder, built once per test session by the wrapper itself."""
    folder = Path(tempfile.mkdtemp(prefix="bk-holder-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CARGO", "BUILDKIT_"))}
    env["BUILDKIT_ADMISSION_DIR"] = str(folder)
    done = subprocess.run(
        ["sh", str(WRAPPER_TEMPLATE), "--buildkit-holder"], env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr + "".join(
        p.read_text() for p in folder.glob("*.failed")
    )
    return Path(done.stdout.strip())


def make_home(root: Path, holder: Holder = "compiled") -> Path:
    """A private HOME. Its budget's folder gets the compiled holder built for the session
    (``compiled``: building it is tested on its own), a fresh build failure, so that perl holds
    the slots (``perl``), or nothing, so that the first compile builds it (``none``)."""
    home = root / "home"
    (home / ".cargo").mkdir(parents=True)
    (home / ".cargo" / "bin").symlink_to(CARGO_BIN)
    (home / ".rustup").symlink_to(RUSTUP_HOME)
    # what rustup's installer adds, so a login shell (`bash -lc`) finds cargo as on a laptop
    (home / ".profile").write_text('export PATH="$HOME/.cargo/bin:$PATH"\n')
    if holder != "none":
        folder = admission_dir(home)
        folder.mkdir(parents=True, mode=0o700)
        for part in (home / ".cache", home / ".cache/buildkit", folder):
            part.chmod(0o700)
        built = prebuilt_holder()
        if holder == "compiled":
            shutil.copy2(built, folder / built.name)
        else:
            (folder / f"{built.name}.failed").write_text("perl holds the slots in this test\n")
    return home


def rendered_crate(root: Path, home: Path) -> Path:
    """A tiny lib+bin crate in a git repository, rendered by buildkit with admission on."""
    crate = root / "tiny"
    (crate / "src").mkdir(parents=True)
    (crate / "Cargo.toml").write_text(CARGO_TOML)
    (crate / "src/lib.rs").write_text(LIB)
    (crate / "src/main.rs").write_text(MAIN)
    (crate / "buildkit.yaml").write_text(PROFILE)
    subprocess.run(["git", "init", "-q", str(crate)], check=True)
    ran = run_buildkit("render", crate)
    assert ran.exit_code == 0, ran.stderr
    assert (crate / ".config/buildkit/bin/runner").is_file()
    config = (crate / ".cargo/config.toml").read_text()
    assert "rustc-wrapper" in config and "runner" in config, config
    return crate


def build_env(home: Path, state: Path) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("CQ_", "CARGO", "RUST", "BUILDKIT_"))
    }
    env.update(
        HOME=str(home),
        PATH=f"{home}/.cargo/bin:/usr/local/bin:/usr/bin:/bin",
        CQ_STATE_DIR=str(state),
        CARGO_TERM_COLOR="never",
    )
    return env


def admission_dir(home: Path) -> Path:
    return home / ".cache/buildkit/admission"


@contextmanager
def budget_held(home: Path, jobs: int = JOBS) -> Iterator[list[int]]:
    """Hold every slot of the budget, as builds do (an exclusive flock on each slot file)."""
    directory = admission_dir(home)
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    for part in (home / ".cache", home / ".cache/buildkit", directory):
        part.chmod(0o700)
    fds = []
    try:
        for slot in range(jobs):
            fd = os.open(directory / f"slot-{slot:03d}.lock", os.O_RDONLY | os.O_CREAT, 0o600)
            fds.append(fd)
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        yield fds
    finally:
        for fd in fds:
            os.close(fd)


def free_capacity(home: Path, jobs: int = JOBS) -> int:
    """How many slots can be taken right now (each taken without waiting, then released)."""
    directory = admission_dir(home)
    taken = []
    try:
        for slot in range(jobs):
            fd = os.open(directory / f"slot-{slot:03d}.lock", os.O_RDONLY | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                continue
            taken.append(fd)
        return len(taken)
    finally:
        for fd in taken:
            os.close(fd)


def processes() -> dict[int, tuple[int, str]]:
    """pid -> (parent pid, command name), from /proc."""
    found = {}
    for path in Path("/proc").iterdir():
        entry = path.name
        if not entry.isdigit():
            continue
        try:
            stat = (path / "stat").read_text()
        except OSError:
            continue
        name = stat[stat.index("(") + 1 : stat.rindex(")")]
        ppid = int(stat[stat.rindex(")") + 2 :].split()[1])
        found[int(entry)] = (ppid, name)
    return found


def descendants(root: int) -> dict[int, str]:
    """Every live process below ``root`` (and root): pid -> command name."""
    table = processes()
    children: dict[int, list[int]] = {}
    for pid, (ppid, _) in table.items():
        children.setdefault(ppid, []).append(pid)
    found, todo = {}, [root]
    while todo:
        pid = todo.pop()
        if pid in table:
            found[pid] = table[pid][1]
        todo.extend(children.get(pid, []))
    return found


def waiting_pids(home: Path) -> set[int]:
    pids = set()
    for record in admission_dir(home).glob("wait-*.rec"):
        try:
            text = record.read_text()
        except OSError:
            continue
        for line in text.splitlines():
            if line.startswith("pid="):
                pids.add(int(line[4:]))
    return pids


def copy_scripts(crate: Path, scripts: dict[str, str]) -> None:
    folder = crate / "scripts"
    folder.mkdir(exist_ok=True)
    for name, body in scripts.items():
        path = folder / name
        path.write_text(body)
        path.chmod(0o755)


def doctests_wait_for_the_budget(
    home: Path, command: list[str], crate: Path, env: dict[str, str], jobs: int = JOBS
) -> None:
    """With every slot of ``home``'s budget held, ``command`` (a `cargo test --doc`) waits:
    a waiting record of kind test names rustdoc and no rustdoc runs; released, it passes."""
    with budget_held(home, jobs=jobs):
        proc = subprocess.Popen(
            command, cwd=crate, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        try:
            below = lambda: descendants(proc.pid)  # noqa: E731
            wait_for("the doctest run to wait", lambda: waiting_pids(home) & set(below()))
            [record] = admission_dir(home).glob("wait-test-*.rec")
            assert "cmd=rustdoc " in record.read_text(), record.read_text()
            assert "rustdoc" not in below().values(), below()
            assert proc.poll() is None
        except BaseException:
            proc.kill()
            raise
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 0 and "1 passed" in out, out
