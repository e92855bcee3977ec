"""Claude Code's WorktreeCreate/WorktreeRemove hooks (docs/agents.md): the command buildkit
registers in .claude/settings.json is run through real shells with the JSON Claude Code sends
(compact, as in https://code.claude.com/docs/en/hooks); the worktree it makes builds through the
shim with the real cargo, offline; removal leaves nothing behind; hostile names are refused."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from agents.agents_helpers import CRATE, clean_env, read_runs
from agents.conftest import shim_path
from buildkit.render.merged_json import MARK
from conftest import build_file_tree, run_buildkit
from cq.cq_helpers import git

REAL_HOME = Path("~").expanduser()
TOOLCHAIN = {
    "RUSTUP_HOME": os.environ.get("RUSTUP_HOME", str(REAL_HOME / ".rustup")),
    "CARGO_HOME": os.environ.get("CARGO_HOME", str(REAL_HOME / ".cargo")),
}
SHELLS = ["dash", "bash"]

# The repository keeps .envrc and a secrets file out of git, as many do; .worktreeinclude names
# the secrets file (Claude Code copies such files itself only without a WorktreeCreate hook).
REPO_FILES = {
    **CRATE,
    ".gitignore": "/target\n/.envrc\n/secrets.env\n/notes.txt\n",
    ".worktreeinclude": "secrets.env\n",
    "secrets.env": "TOKEN=1\n",
    "notes.txt": "ignored, not listed: stays in the main checkout\n",
}


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = build_file_tree(tmp_path / "repo", REPO_FILES)
    git(root, "init", "-q", "-b", "main")
    ran = run_buildkit("init", root)
    assert ran.exit_code == 0, ran.stdout + ran.stderr
    git(root, "add", "-A")
    git(root, "commit", "-qm", "crate")
    assert git(root, "status", "--porcelain") == ""
    return root.resolve()


@pytest.fixture
def env(tmp_path: Path, repo: Path) -> dict[str, str]:
    """Claude Code's environment for a hook: the project folder, a private HOME (direnv's
    allow list), the real toolchain, a private cq state."""
    home = tmp_path / "home"
    home.mkdir()
    state = tmp_path / "cq-state"
    state.mkdir(mode=0o700)
    out = clean_env(state, HOME=str(home), CLAUDE_PROJECT_DIR=str(repo), **TOOLCHAIN)
    for key in ("XDG_DATA_HOME", "XDG_CONFIG_HOME", "XDG_RUNTIME_DIR", "DIRENV_DIR"):
        out.pop(key, None)
    return out


def hook_command(repo: Path, event: str) -> str:
    settings = json.loads((repo / ".claude/settings.json").read_text())
    commands = [
        hook["command"]
        for group in settings["hooks"].get(event, [])
        for hook in group["hooks"]
        if MARK in hook["command"]
    ]
    assert len(commands) == 1, settings["hooks"]
    return str(commands[0])


def run_hook(
    shell: str, repo: Path, env: dict[str, str], payload: dict[str, Any]
) -> subprocess.CompletedProcess[str]:
    """The registered command, run as Claude Code runs a command hook: a shell, the JSON on
    stdin (compact), in the project folder."""
    command = hook_command(repo, str(payload["hook_event_name"]))
    body = {"session_id": "abc123", "transcript_path": "/t/abc123.jsonl", **payload}
    return subprocess.run(
        [shell, "-c", command],
        input=json.dumps(body, separators=(",", ":")),
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def create(shell: str, repo: Path, env: dict[str, str], **fields: str) -> Path:
    ran = run_hook(
        shell, repo, env, {"cwd": str(repo), "hook_event_name": "WorktreeCreate", **fields}
    )
    assert ran.returncode == 0, ran.stderr
    assert len(ran.stdout.splitlines()) == 1, ran.stdout  # only the path: Claude Code reads it
    return Path(ran.stdout.strip())


def remove(
    shell: str, repo: Path, env: dict[str, str], path: Path
) -> subprocess.CompletedProcess[str]:
    payload = {"cwd": str(repo), "hook_event_name": "WorktreeRemove", "worktree_path": str(path)}
    return run_hook(shell, repo, env, payload)


def registered(repo: Path) -> list[str]:
    listed = git(repo, "worktree", "list", "--porcelain")
    return [line.split(" ", 1)[1] for line in listed.splitlines() if line.startswith("worktree ")]


def dead_pid() -> int:
    """The pid of a process that has exited (and been reaped)."""
    proc = subprocess.run(["sh", "-c", "echo $$"], capture_output=True, text=True, check=True)
    return int(proc.stdout)


def wait_for(condition: Any, what: str, deadline: float = 30.0) -> None:
    end = time.monotonic() + deadline
    while not condition():
        assert time.monotonic() < end, f"timed out waiting for {what}"
        time.sleep(0.05)


@pytest.mark.parametrize("shell", SHELLS)
def test_a_created_worktree_builds_through_the_shim_and_removal_leaves_nothing(
    shell: str, repo: Path, env: dict[str, str], tmp_path: Path
) -> None:
    subprocess.run(["direnv", "allow", str(repo)], env=env, check=True, capture_output=True)
    wt = create(shell, repo, env, name="x")

    assert wt == repo / ".claude/worktrees/x"
    assert git(wt, "branch", "--show-current").strip() == "worktree-x"
    assert git(wt, "rev-parse", "HEAD") == git(repo, "rev-parse", "HEAD")
    # ready to build: the ignored files a build reads, the .envrc allowed, nothing else copied
    assert (wt / ".envrc").read_text() == (repo / ".envrc").read_text()
    assert (wt / "secrets.env").read_text() == "TOKEN=1\n"
    assert not (wt / "notes.txt").exists()
    status = subprocess.run(["direnv", "status"], cwd=wt, env=env, capture_output=True, text=True)
    assert f"Found RC path {wt}/.envrc" in status.stdout, status.stdout
    assert "Found RC allowed true" in status.stdout, status.stdout
    assert git(repo, "status", "--porcelain") == ""  # the nested worktree stays out of it

    log = tmp_path / "runs.jsonl"
    build_env = {**env, "PATH": shim_path(wt), "CQ_TEST_LOG": str(log)}
    built = subprocess.run(
        [shell, "-c", "cargo build --offline --quiet"],
        cwd=wt,
        env=build_env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert built.returncode == 0, built.stderr
    runs = read_runs(log)
    assert len(runs) == 1 and runs[0]["holder"] is not None, runs  # it held cq's queue
    assert (wt / "target/debug/q").is_file()

    # what a cq killed with its watchdog (OOM, a machine put to sleep) leaves: records of dead
    # processes; one from the worktree, one from the main checkout
    state = Path(env["CQ_STATE_DIR"])
    holder = state / "user.holder"
    holder.write_text(f"pid={dead_pid()}\npgid=1\nstarted=1\ncwd={wt}/src\ncmd=cargo test\n")
    waiters = state / "user.d/waiters"
    ours = waiters / f"000000000098.{dead_pid()}"
    ours.write_text(f"pid={dead_pid()}\nstarted=1\ncwd={wt}\ncmd=cargo test\n")
    theirs = waiters / f"000000000099.{dead_pid()}"
    theirs.write_text(f"pid={dead_pid()}\nstarted=1\ncwd={repo}\ncmd=cargo test\n")

    ran = remove(shell, repo, env, wt)
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout == ""
    assert not wt.exists()
    assert str(wt) not in registered(repo)
    assert git(repo, "branch", "--list", "worktree-x") == ""
    assert not holder.exists() and not ours.exists()
    assert theirs.exists()  # another checkout's record is not this removal's business


def test_worktree_name_field_and_a_resumed_session(repo: Path, env: dict[str, str]) -> None:
    """Some Claude Code builds send `worktree_name`; a second create of the same name (a
    resumed session) gets the same worktree back, its work kept."""
    wt = create("sh", repo, env, worktree_name="y")
    assert wt == repo / ".claude/worktrees/y"
    (wt / "work.txt").write_text("kept\n")
    assert create("sh", repo, env, name="y") == wt
    assert (wt / "work.txt").read_text() == "kept\n"


def test_removal_waits_for_a_live_build_there(
    repo: Path, env: dict[str, str], tmp_path: Path
) -> None:
    wt = create("sh", repo, env, name="busy")
    ready = tmp_path / "held"
    build = subprocess.Popen(
        ["sh", str(wt / "scripts/cq"), "exec", "sh", "-c", f"echo held > {ready}; exec sleep 120"],
        cwd=wt,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        wait_for(ready.exists, "the build to hold the queue")
        ran = remove("sh", repo, env, wt)
        assert ran.returncode != 0
        assert len(ran.stderr.splitlines()) == 1, ran.stderr
        assert f"a build is running in {wt} (pid {build.pid}" in ran.stderr
        assert wt.is_dir() and str(wt) in registered(repo)
    finally:
        subprocess.run(["sh", str(wt / "scripts/cq"), "kill"], cwd=wt, env=env, capture_output=True)
        build.wait(timeout=60)
    ran = remove("sh", repo, env, wt)
    assert ran.returncode == 0, ran.stderr
    assert not wt.exists()


HOSTILE = [
    "../x",
    "a/b",
    "/tmp/x",
    "-x",
    "--help",
    "..",
    ".hidden",
    "a..b",
    "x y",
    "$(touch pwned)",
    "`touch pwned`",
    "x;touch pwned",
    "x\ntouch pwned",
    "",
    "é",
    "x.lock",
]


@pytest.mark.parametrize("name", HOSTILE)
def test_hostile_names_are_refused_in_one_line(name: str, repo: Path, env: dict[str, str]) -> None:
    payload = {"cwd": str(repo), "hook_event_name": "WorktreeCreate", "name": name}
    ran = run_hook("sh", repo, env, payload)
    assert ran.returncode != 0
    assert ran.stdout == ""
    assert len(ran.stderr.splitlines()) == 1, ran.stderr
    assert ran.stderr.startswith("buildkit worktree: ")
    assert registered(repo) == [str(repo)]
    assert not (repo / ".claude/worktrees").exists()
    assert not list(repo.parent.rglob("pwned"))


def test_removal_refuses_what_is_not_a_linked_worktree(repo: Path, env: dict[str, str]) -> None:
    for path in (repo, repo / "src", Path("/etc")):
        ran = remove("sh", repo, env, path)
        assert ran.returncode != 0, path
        assert len(ran.stderr.splitlines()) == 1, ran.stderr
    assert (repo / "src/main.rs").is_file()


def test_claude_code_base_ref_setting(repo: Path, env: dict[str, str], tmp_path: Path) -> None:
    """Claude Code's worktree.baseRef: "fresh" (its default) starts from origin's default
    branch, "head" from HEAD."""
    origin = tmp_path / "origin.git"
    git(tmp_path, "clone", "-q", "--bare", str(repo), str(origin))
    git(repo, "remote", "add", "origin", str(origin))
    git(repo, "fetch", "-q", "origin")
    git(repo, "remote", "set-head", "origin", "main")
    fresh = git(repo, "rev-parse", "HEAD").strip()
    git(repo, "commit", "-q", "--allow-empty", "-m", "local only")
    assert git(create("sh", repo, env, name="f"), "rev-parse", "HEAD").strip() == fresh
    (repo / ".claude/settings.local.json").write_text('{"worktree":{"baseRef":"head"}}')
    head = git(repo, "rev-parse", "HEAD")
    assert git(create("sh", repo, env, name="h"), "rev-parse", "HEAD") == head


def test_buildkit_worktree_add_and_remove_by_hand(repo: Path, env: dict[str, str]) -> None:
    cli = [sys.executable, "-m", "buildkit", "worktree"]
    added = subprocess.run([*cli, "add", "hand"], cwd=repo, env=env, capture_output=True, text=True)
    assert added.returncode == 0, added.stderr
    assert "worktree-hand\n" not in added.stderr  # git check-ref-format's echo of the name
    wt = Path(added.stdout.strip())
    assert wt == repo / ".claude/worktrees/hand" and (wt / "secrets.env").is_file()
    assert git(wt, "branch", "--show-current").strip() == "worktree-hand"
    bad = subprocess.run([*cli, "add", "../up"], cwd=repo, env=env, capture_output=True, text=True)
    assert bad.returncode != 0 and len(bad.stderr.splitlines()) == 1, bad.stderr
    # work on the branch and in the tree: removal takes both, and says how to get the commit back
    (wt / "work.txt").write_text("committed\n")
    git(wt, "add", "work.txt")
    git(wt, "-c", "user.name=t", "-c", "user.email=t@example.invalid", "commit", "-qm", "work")
    sha = git(wt, "rev-parse", "--short", "HEAD").strip()
    (wt / "src" / "main.rs").write_text("fn main() {}\n")
    (wt / "scratch.txt").write_text("not added\n")

    def remove_by_hand(path: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*cli, "remove", path], cwd=repo, env=env, capture_output=True, text=True
        )

    gone = remove_by_hand(".claude/worktrees/hand")
    assert gone.returncode == 0, gone.stderr
    assert not wt.exists() and git(repo, "branch", "--list", "worktree-hand") == ""
    assert gone.stderr.count("\n") == 1, gone.stderr
    assert f"removed {wt} with 2 uncommitted changes" in gone.stderr
    assert f"deleted branch worktree-hand (was {sha}); 1 commit on no other branch" in gone.stderr
    assert f"git branch worktree-hand {sha} brings it back" in gone.stderr
    git(repo, "branch", "worktree-hand", sha)
    assert git(repo, "show", "worktree-hand:work.txt") == "committed\n"
    # a path git knows no worktree at (a typo, or removed already): one line, exit 1
    again = remove_by_hand(".claude/worktrees/hand")
    assert again.returncode == 1 and again.stderr.count("\n") == 1, again.stderr
    assert "no worktree at" in again.stderr
    # a worktree deleted by hand: git's record is pruned, and that is said
    other = Path(
        subprocess.run(
            [*cli, "add", "other"], cwd=repo, env=env, capture_output=True, text=True, check=True
        ).stdout.strip()
    )
    subprocess.run(["rm", "-rf", str(other)], check=True)
    # named through a symbolic link to the repository (macOS's /tmp is one)
    link = repo.parent / "repo-link"
    link.symlink_to(repo)
    pruned = remove_by_hand(str(link / other.relative_to(repo)))
    assert pruned.returncode == 0 and "already deleted" in pruned.stderr, pruned.stderr
    assert "deleted branch worktree-other (was " in pruned.stderr  # as with one still there
    assert str(other) not in registered(repo)
    assert git(repo, "branch", "--list", "worktree-other") == ""


def test_worktree_hooks_switch_off(repo: Path) -> None:
    profile = repo / "buildkit.yaml"
    text = profile.read_text()
    assert "agents:\n" not in text  # the default profile: append the section
    profile.write_text(text + "agents:\n  worktree_hooks: false\n")
    assert run_buildkit("render", repo).exit_code == 0
    hooks = json.loads((repo / ".claude/settings.json").read_text())["hooks"]
    assert "WorktreeCreate" not in hooks and "WorktreeRemove" not in hooks
    assert "PreToolUse" in hooks
    assert (repo / ".config/buildkit/hooks/worktree.pl").is_file()  # `buildkit worktree` runs it
    ran = run_buildkit("check", repo)
    assert ran.exit_code == 0, ran.stdout + ran.stderr
