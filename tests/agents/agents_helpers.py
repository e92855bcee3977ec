"""Helpers for the agents tests: a repository rendered by `buildkit init` whose build script
logs whether it runs holding cq's queue (CQ_HOLDER_PID, which cq exports to what it runs),
and shells that see PATH the way an agent's Bash command does."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from conftest import build_file_tree, run_buildkit
from cq.cq_helpers import git

# One JSON line per build-script run. CQ_TEST_NESTED, when set, is run with `sh -c` from the
# build script (a cargo started inside a held build) and its exit status and time are logged.
BUILD_RS = r"""use std::{env, fs::OpenOptions, io::Write, process::Command, thread};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
fn now() -> f64 { SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs_f64() }
fn var(key: &str) -> String {
    env::var(key).map(|v| format!("{v:?}")).unwrap_or_else(|_| "null".into())
}
fn main() {
    println!("cargo:rerun-if-env-changed=CQ_TEST_RUN");
    println!("cargo:rerun-if-env-changed=CQ_TEST_NESTED");
    let Ok(path) = env::var("CQ_TEST_LOG") else { return };
    let start = now();
    let ms: u64 = env::var("CQ_TEST_SLEEP_MS").ok().and_then(|s| s.parse().ok()).unwrap_or(0);
    thread::sleep(Duration::from_millis(ms));
    let (mut nested_rc, mut nested_s) = (String::from("null"), 0.0);
    if let Ok(cmd) = env::var("CQ_TEST_NESTED") {
        let t = Instant::now();
        let status = Command::new("sh").arg("-c").arg(&cmd).status().unwrap();
        nested_rc = status.code().map(|c| c.to_string()).unwrap_or("null".into());
        nested_s = t.elapsed().as_secs_f64();
    }
    let line = format!(
        "{{\"run\":{},\"holder\":{},\"incremental\":{},\"cargo\":{},\"start\":{start},\"end\":{},\"nested_rc\":{nested_rc},\"nested_s\":{nested_s}}}\n",
        var("CQ_TEST_RUN"), var("CQ_HOLDER_PID"), var("CARGO_INCREMENTAL"), var("CARGO"), now());
    let mut f = OpenOptions::new().append(true).create(true).open(path).unwrap();
    f.write_all(line.as_bytes()).unwrap();
}
"""

CRATE = {
    "Cargo.toml": '[package]\nname = "q"\nversion = "0.1.0"\nedition = "2021"\n',
    "build.rs": BUILD_RS,
    "src/main.rs": "fn main() {}\n\n#[test]\nfn passes() {}\n",
    "README.md": "Run the tests with cargo test.\n",
    "Makefile": "test:\n\tcargo test --quiet\n",
    ".gitignore": "/target\n",
}

SHIM_DIR = ".config/buildkit/bin"


def make_agents_repo(root: Path, worktrees: int = 0) -> list[Path]:
    """A git repository with the crate, rendered by `buildkit init` and committed, plus linked
    worktrees (each a checkout of that commit: the shim and cq are in every one)."""
    build_file_tree(root, CRATE)
    git(root, "init", "-q", "-b", "main")
    ran = run_buildkit("init", root)
    assert ran.exit_code == 0, ran.stdout + ran.stderr
    git(root, "add", "-A")
    git(root, "commit", "-qm", "crate")
    checkouts = [root]
    for n in range(2, worktrees + 2):
        other = root.parent / f"{root.name}-wt{n}"
        git(root, "worktree", "add", "-q", "-b", f"wt{n}", str(other))
        checkouts.append(other)
    return checkouts


def clean_env(state: Path, **extra: str) -> dict[str, str]:
    """The machine's environment less anything of cq's, with a private queue state."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("CQ_", "CARGO_INCREMENTAL", "CARGO_BUILD_", "CARGO_TARGET_DIR"))
        and k not in ("CARGO", "CLAUDE_ENV_FILE")
    }
    env["CQ_STATE_DIR"] = str(state)
    env["CARGO_TERM_COLOR"] = "never"
    env.update(extra)
    return env


def session_env_file(repo: Path, where: Path, state: Path) -> Path:
    """Run the rendered SessionStart hook as Claude Code does: CLAUDE_ENV_FILE names a file the
    hook may append `export` lines to. Returns that file."""
    env_file = where / "claude-env.sh"
    env_file.write_text("")
    hook = repo / ".config/buildkit/hooks/claude-session-start.sh"
    event = {"hook_event_name": "SessionStart", "source": "startup", "cwd": str(repo)}
    env = clean_env(state, CLAUDE_ENV_FILE=str(env_file), CLAUDE_PROJECT_DIR=str(repo))
    ran = subprocess.run(
        [str(hook)], input=json.dumps(event), env=env, capture_output=True, text=True, check=False
    )
    assert ran.returncode == 0, ran.stderr
    return env_file


def agent_shell(
    shell: str, env_file: Path, command: str, cwd: Path, env: Mapping[str, str], **run: Any
) -> subprocess.CompletedProcess[str]:
    """One agent Bash command: a fresh shell that sources the session's env file first."""
    script = f". {shlex.quote(str(env_file))}\n{command}"
    return subprocess.run(
        [shell, "-c", script], cwd=cwd, env=dict(env), capture_output=True, text=True, **run
    )


def read_runs(log: Path) -> list[dict[str, Any]]:
    if not log.exists():
        return []
    return [json.loads(line) for line in log.read_text().splitlines() if line.strip()]


# -- the corpus: agent command lines, what the shim must do with each, and what the PreToolUse
# hook must answer. "heavy" lines run cargo SUBCOMMAND holding the queue (incremental "0" for
# cq's one-shot commands, cargo's own default otherwise); "plain" lines run at once, unchanged.
ONESHOT = {"doc", "d", "bench", "rustdoc"}


HEAVY_CORPUS: list[tuple[str, str]] = [
    ("cargo test --quiet", "test"),
    ("cargo t --quiet", "t"),
    ("cargo build --quiet", "build"),
    ("cargo b --quiet", "b"),
    ("cargo check --quiet", "check"),
    ("cargo c --quiet", "c"),
    ("cargo clippy --quiet", "clippy"),
    ("cargo doc --no-deps --quiet", "doc"),
    ("cargo run --quiet", "run"),
    ("cargo +stable build --quiet", "build"),
    ("cargo +stable test --quiet", "test"),
    ("cargo --color never check --quiet", "check"),
    ("cargo -q build", "build"),
    ("cd src && cargo check --quiet", "check"),
    ("FOO=1 cargo clippy --quiet", "clippy"),
    ("env X=1 cargo t --quiet", "t"),
    ("nice cargo build --quiet", "build"),
    ("nice -n 5 cargo check --quiet", "check"),
    ("time cargo test --quiet", "test"),
    ("timeout 600 cargo build --quiet", "build"),
    ("cargo test 2>&1 | tail -n 3", "test"),
    ("(cargo build --quiet)", "build"),
    ("{ cargo check --quiet; }", "check"),
    ("true && cargo build --quiet", "build"),
    ("if true; then cargo check --quiet; fi", "check"),
    ('bash -c "cargo test --quiet"', "test"),
    ("sh -c 'cargo check --quiet'", "check"),
    ("echo build | xargs cargo", "build"),
    ("printf '%s\\n' --quiet | xargs cargo check", "check"),
    ("make --no-print-directory test", "test"),
    ("command cargo build --quiet", "build"),
    ("exec cargo check --quiet", "check"),
    ("\\cargo build --quiet", "build"),
    ('"cargo" check --quiet', "check"),
    ("nohup cargo build --quiet >/dev/null 2>&1", "build"),
    ("scripts/cq test --quiet", "test"),
]

# Plain lines: (command, compare stdout with the same line run without the shim).
PLAIN_CORPUS: list[str] = [
    "cargo fmt --check",
    "cargo metadata --format-version 1 --no-deps",
    "cargo tree",
    "cargo --version",
    "cargo +stable --version",
    "cargo pkgid",
    "cargo locate-project",
    "echo cargo test",
    'grep "cargo test" README.md',
    'git -c user.name=t -c user.email=t@example.invalid commit --allow-empty -qm "cargo test"'
    " && git log -1 --format=%s",
    "printf '%s\\n' \"cargo build\"",
    ": cargo build",
    "# cargo test",
    "cat Makefile",
]

# Lines that bypass the shim: the hook denies them (the shim cannot see them).
BYPASS_CORPUS: list[str] = [
    "/usr/bin/env -i cargo build",
    "env -i cargo test",
    "env -i PATH=/usr/bin:/bin cargo check",
    "env -u PATH cargo build",
    "~/.cargo/bin/cargo test",
    "$HOME/.cargo/bin/cargo build --release",
    "{real_cargo} test 2>&1 | tail",
    "nice -n 5 {real_cargo} +stable clippy",
    '"$CARGO" build',
    "command -p cargo build",
    "PATH=/usr/bin:/bin cargo test",
    "PATH={real_cargo_dir}:$PATH cargo t",
    "export PATH={real_cargo_dir}:$PATH; cargo check",
    "unset PATH; cargo build",
    "rustup run stable cargo check",
    "sudo cargo build",
    "doas -u me cargo test",
    "echo `env -i cargo build`",
    'bash -c "env -i cargo test"',
    "sh -lc '{real_cargo} build'",
    "echo $({real_cargo} build)",
    "echo x | xargs -I{{}} {real_cargo} build",
    "exec -c cargo test",
    'eval "env -i cargo check"',
    "env -i cargo \\\n  test",
    "cat <<EOF > notes.txt\nsome text\nEOF\nenv -i cargo build",
]

# Bypass forms that run nothing heavy: allowed.
HARMLESS_BYPASS_CORPUS: list[str] = [
    "env -i cargo fmt",
    "{real_cargo} --version",
    "{real_cargo} metadata --format-version 1",
    "rustup run stable cargo tree",
    'git commit -m "env -i cargo test"',
    "echo /usr/bin/env -i cargo build",
    "PATH=$PATH:/opt/bin cargo build",
    "command -v cargo",
    ".config/buildkit/bin/cargo build",
    "cat <<'EOF' > notes.txt\nenv -i cargo test\nEOF",
    "cat <<-EOF\n\tenv -i cargo test\n\tEOF\necho done",
    "echo a >> log.txt 2>&1 && cargo fmt",
]


def hold_queue_until(repo: Path, env: dict[str, str], gate: Path) -> subprocess.Popen[bytes]:
    """The repository's cq holding its queue until ``gate`` exists (the caller creates it)."""
    return subprocess.Popen(
        [
            str(repo / "scripts/cq"),
            "exec",
            "sh",
            "-c",
            'while [ ! -e "$0" ]; do sleep 0.05; done',
            str(gate),
        ],
        cwd=repo,
        env=env,
    )
