"""Helpers for the cq tests: a tiny workspace whose build script records what it sees, the real
rendered cq, a PATH that hides flock/setsid (as on macOS), and process facts read from /proc."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import yaml

from buildkit.profile import parse_profile
from buildkit.render import cq as cq_family
from conftest import build_file_tree

# The build script appends one JSON line when it starts and one when it ends, then sleeps
# CQ_TEST_SLEEP_MS. A new CQ_TEST_RUN value makes cargo run it again.
BUILD_RS = r"""use std::{env, fs::OpenOptions, io::Write, thread};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
fn now() -> f64 { SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs_f64() }
fn log(path: &str, line: String) {
    let mut f = OpenOptions::new().append(true).create(true).open(path).unwrap();
    f.write_all(line.as_bytes()).unwrap();
}
fn var(key: &str) -> String {
    env::var(key).map(|v| format!("\"{v}\"")).unwrap_or_else(|_| "null".into())
}
fn main() {
    println!("cargo:rerun-if-env-changed=CQ_TEST_RUN");
    let Ok(path) = env::var("CQ_TEST_LOG") else { return };
    let run = env::var("CQ_TEST_RUN").unwrap_or_default();
    log(&path, format!(
        "{{\"event\":\"start\",\"run\":\"{run}\",\"pid\":{},\"t\":{},\"incremental\":{},\"jobs\":{},\"out_dir\":{}}}\n",
        std::process::id(), now(), var("CARGO_INCREMENTAL"), var("NUM_JOBS"), var("OUT_DIR")));
    let ms: u64 = env::var("CQ_TEST_SLEEP_MS").ok().and_then(|s| s.parse().ok()).unwrap_or(0);
    thread::sleep(Duration::from_millis(ms));
    log(&path, format!("{{\"event\":\"end\",\"run\":\"{run}\",\"t\":{}}}\n", now()));
}
"""

CRATE = {
    "Cargo.toml": '[package]\nname = "q"\nversion = "0.1.0"\nedition = "2021"\n',
    "build.rs": BUILD_RS,
    "src/main.rs": "fn main() {}\n\n#[test]\nfn gate() {\n"
    '    assert!(std::env::var_os("CQ_TEST_FAIL").is_none(), "asked to fail");\n}\n',
    ".gitignore": "/target\n",
}

HIDDEN_ON_MACOS = ("flock", "setsid", "nproc")


def git(root: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(root), "-c", "user.name=t", "-c", "user.email=t@example.invalid", *args],
        capture_output=True,
        text=True,
        check=True,
    ).stdout


def make_repo(root: Path, worktrees: int = 0) -> list[Path]:
    """A git repository holding the crate, plus linked worktrees; returns every checkout."""
    build_file_tree(root, CRATE)
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "crate")
    checkouts = [root]
    for n in range(2, worktrees + 2):
        other = root.parent / f"{root.name}-wt{n}"
        git(root, "worktree", "add", "-q", "-b", f"wt{n}", str(other))
        checkouts.append(other)
    return checkouts


def render_cq(dest: Path, sections: Mapping[str, Any] | None = None, **cq: Any) -> Path:
    """The real cq, rendered by buildkit's cq family from a profile with these cq settings."""
    text = yaml.safe_dump({"version": 1, **(sections or {}), "cq": cq})
    profile = parse_profile(text, root=dest.parent, path=dest.parent / "buildkit.yaml")
    (artifact,) = cq_family.artifacts(profile)
    body = artifact.render(None)
    assert body is not None and artifact.executable
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_text(body, encoding="utf-8")
    dest.chmod(0o755)
    return dest


def macos_bin(where: Path) -> Path:
    """A directory of symlinks to every program on PATH except flock, setsid and nproc."""
    where.mkdir(parents=True, exist_ok=True)
    for directory in map(Path, os.environ["PATH"].split(os.pathsep)):
        if not directory.is_dir():
            continue
        for program in directory.iterdir():
            link = where / program.name
            if program.name in HIDDEN_ON_MACOS or link.exists() or link.is_symlink():
                continue
            if program.is_file() and os.access(program, os.X_OK):
                link.symlink_to(program)
    for name in HIDDEN_ON_MACOS:
        assert shutil.which(name, path=str(where)) is None
    return where


def cq_env(state: Path, path: str | None = None, **extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("CQ_", "CARGO_INCREMENTAL", "CARGO_BUILD_", "CARGO_TARGET_DIR"))
    }
    env["CQ_STATE_DIR"] = str(state)
    env["CARGO_TERM_COLOR"] = "never"
    if path is not None:
        env["PATH"] = path
    env.update(extra)
    return env


def start(
    shell: str, cq: Path, args: list[str], cwd: Path, env: Mapping[str, str], **popen: Any
) -> subprocess.Popen[str]:
    return subprocess.Popen([shell, str(cq), *args], cwd=cwd, env=dict(env), text=True, **popen)


def read_log(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def wait_for(condition: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.05)


def started(log: Path, run: str) -> dict[str, Any] | None:
    for entry in read_log(log):
        if entry["event"] == "start" and entry["run"] == run:
            return entry
    return None


# -- /proc -----------------------------------------------------------------------------------


def stat(pid: int) -> tuple[str, int, int, int] | None:
    """(state, ppid, pgid, sid) of a process, None when it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    fields = text[text.rindex(")") + 2 :].split()
    return fields[0], int(fields[1]), int(fields[2]), int(fields[3])


def alive(pid: int) -> bool:
    """Running or sleeping: a zombie is dead (this machine's pid 1 never reaps orphans)."""
    facts = stat(pid)
    return facts is not None and facts[0] not in ("Z", "X")


def live_pids() -> list[int]:
    pids = (int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit())
    return [pid for pid in pids if alive(pid)]


def group_members(pgid: int) -> list[int]:
    return [p for p in live_pids() if (s := stat(p)) is not None and s[2] == pgid]


def session_members(sid: int) -> list[int]:
    return [p for p in live_pids() if (s := stat(p)) is not None and s[3] == sid]


def holder_record(state: Path, queue: str = "user") -> dict[str, str] | None:
    path = state / f"{queue}.holder"
    try:
        text = path.read_text()
    except FileNotFoundError:
        return None
    return dict(line.split("=", 1) for line in text.splitlines() if "=" in line)


def tickets(state: Path, queue: str = "user") -> list[str]:
    waiters = state / f"{queue}.d" / "waiters"
    return sorted(p.name for p in waiters.iterdir()) if waiters.is_dir() else []
