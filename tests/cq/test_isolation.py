"""Every worktree runs its own code, on cargo's current build-dir layout and on the new one
(issue 21), with buildkit's whole chain in the loop: the rendered cq, the rustc wrapper and the
compiler cache (sccache) shared by every worktree.

Three worktrees on branches whose binary text, build-script output, proc-macro, vendor/ path
dependency, path dependency outside the repository, `include_str!` file, `[patch]` of the
registry dependency, example and test assertion differ take turns through real cargo in a
seeded random order (build, run, test through cq, and plain cargo outside cq), with their
source mtimes pushed into the past and the future. After every step each worktree's own
binary and example must be its own branch's. The control runs the same sequence with one
build-dir shared by the worktrees (what buildkit used to do, minus its invalidation) and must
observe wrong code, so the sequence is shown able to fail.

The new layout is cargo 1.100's default; here it is nightly with
CARGO_UNSTABLE_BUILD_DIR_NEW_LAYOUT=true (the toolchain the machine image ships)."""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from conftest import REPO, build_file_tree, run_buildkit
from cq.cq_helpers import cq_env, git
from cq.worktree_workspace import expected, make_worktrees, outside_files, source_files

BRANCHES = ["main", "b2", "b3"]
STEPS = 30
SEED = 21
# layout -> (cargo's toolchain argument, the environment that selects the layout)
LAYOUTS: dict[str, tuple[list[str], dict[str, str]]] = {
    "current": ([], {}),
    "new": (["+nightly"], {"CARGO_UNSTABLE_BUILD_DIR_NEW_LAYOUT": "true"}),
}
PROFILE = "version: 1\nhakari:\n  enabled: false\nci:\n  enabled: false\n"


def render_buildkit(root: Path) -> None:
    (root / "buildkit.yaml").write_text(PROFILE)
    ran = run_buildkit("init", "--yes", "--no-probes", root)
    assert ran.exit_code == 0, ran.stderr
    assert (root / ".config/buildkit/bin/rustc-wrapper").is_file()


@dataclass
class Rig:
    checkouts: dict[str, Path]
    env: dict[str, str]
    toolchain: list[str]
    wrong: list[str] = field(default_factory=list)

    def cq_run(self, branch: str, *args: str) -> subprocess.CompletedProcess[str]:
        checkout = self.checkouts[branch]
        return subprocess.run(
            ["dash", str(checkout / "scripts" / "cq"), *self.toolchain, *args],
            cwd=checkout,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=600,
        )

    def plain_cargo(self, branch: str, *args: str) -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in self.env.items() if not k.startswith("CQ_")}
        return subprocess.run(
            ["cargo", *self.toolchain, *args],
            cwd=self.checkouts[branch],
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )

    def binary_output(self, branch: str, *relative: str) -> str | None:
        path = self.checkouts[branch].joinpath("target", "debug", *relative)
        if not path.exists():
            return None
        return subprocess.run(
            [str(path)], capture_output=True, text=True, check=True, timeout=60
        ).stdout.strip()


def make_rig(tmp_path: Path, layout: str, *, shared_build_dir: bool = False) -> Rig:
    checkouts = make_worktrees(tmp_path / "repo" / "main", BRANCHES, prepare=render_buildkit)
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    toolchain, layout_env = LAYOUTS[layout]
    env = cq_env(state, CARGO_NET_OFFLINE="true", **layout_env)
    if shared_build_dir:
        env["CARGO_BUILD_BUILD_DIR"] = str(tmp_path / "one-build-dir")
    return Rig(checkouts, env, toolchain)


def push_mtimes(rng: random.Random, checkout: Path) -> str:
    """Every source file of ``checkout`` to one moment in the past or the future."""
    when = rng.choice(["past", "future"])
    offset = rng.randint(1, 30) * 86400
    stamp = time.time() + offset if when == "future" else 978307200 + offset  # 2001 + days
    for path in source_files(checkout):
        os.utime(path, (stamp, stamp))
    return when


def step(rig: Rig, branch: str, op: str) -> None:
    """Run one operation in ``branch``'s worktree; record what was wrong."""
    if op == "plain":
        done = rig.plain_cargo(branch, "build", "--quiet", "--offline")
    else:
        args = {
            "build": ["build", "--quiet"],
            "run": ["run", "--quiet", "--bin", "app"],
            "test": ["test", "--quiet", "--", "--nocapture"],
        }[op]
        done = rig.cq_run(branch, *args)
    if op == "test":
        if done.returncode != 0 or f"RAN {branch}\n" not in done.stdout:
            rig.wrong.append(f"{op} in {branch}: rc {done.returncode}\n{done.stdout}{done.stderr}")
        return
    if done.returncode != 0:
        rig.wrong.append(f"{op} in {branch} failed: {done.stderr[-2000:]}")
    elif op == "run" and done.stdout.strip() != expected(branch):
        rig.wrong.append(f"run in {branch} printed {done.stdout.strip()!r}")


def check_every_binary(rig: Rig, after: str) -> None:
    """Each worktree's target/ holds its own branch's binary and example, whatever ran last."""
    for branch in BRANCHES:
        seen = rig.binary_output(branch, "app")
        if seen is not None and seen != expected(branch):
            rig.wrong.append(f"after {after}: {branch}'s target/debug/app printed {seen!r}")
        example = rig.binary_output(branch, "examples", "ex")
        if example is not None and example != f"{branch}-example":
            rig.wrong.append(f"after {after}: {branch}'s example printed {example!r}")


def alternate(rig: Rig, stop_at_first_wrong: bool) -> list[str]:
    rng = random.Random(SEED)  # noqa: S311 # a reproducible order, not a secret
    history: list[str] = []
    for n in range(STEPS):
        branch = rng.choice(BRANCHES)
        op = rng.choice(["build", "run", "test", "test", "plain"] if n > 2 else ["build"])
        if n > 2 and rng.random() < 0.6:
            pushed = rng.choice(BRANCHES)
            history.append(f"mtimes of {pushed} into the {push_mtimes(rng, rig.checkouts[pushed])}")
        step(rig, branch, op)
        history.append(f"{op} in {branch}")
        check_every_binary(rig, history[-1])
        if rig.wrong and stop_at_first_wrong:
            break
    return history


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_alternating_worktrees_each_run_their_own_code(tmp_path: Path, layout: str) -> None:
    rig = make_rig(tmp_path, layout)
    history = alternate(rig, stop_at_first_wrong=False)
    assert not rig.wrong, "\n".join(history) + "\n\nWRONG:\n" + "\n".join(rig.wrong)
    ops = {h.split(" in ")[0] for h in history}
    assert {"build", "run", "test", "plain"} <= ops, history
    # isolation: each worktree built in its own target dir, nothing under the git common dir
    for checkout in rig.checkouts.values():
        assert (checkout / "target" / "debug" / "app").is_file()
    common = git(rig.checkouts["main"], "rev-parse", "--path-format=absolute", "--git-common-dir")
    assert not (Path(common.strip()) / "buildkit" / "build-dir").exists()


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_control_one_shared_build_dir_serves_another_worktrees_code(
    tmp_path: Path, layout: str
) -> None:
    rig = make_rig(tmp_path, layout, shared_build_dir=True)
    history = alternate(rig, stop_at_first_wrong=True)
    assert rig.wrong, "the control saw no wrong code; the sequence proves nothing:\n" + (
        "\n".join(history)
    )


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_issue_repro_each_worktree_prints_its_own_branch(tmp_path: Path, layout: str) -> None:
    # The issue's repro: two worktrees, source mtimes set to one old date before each build,
    # three rounds; main must print main's text every time (it printed OTHER's before).
    rig = make_rig(tmp_path, layout)
    for _ in range(3):
        for branch in ("b2", "main"):
            for path in source_files(rig.checkouts[branch]):
                os.utime(path, (1577836800, 1577836800))  # 2020-01-01
            done = rig.cq_run(branch, "build", "-q")
            assert done.returncode == 0, done.stderr
            assert rig.binary_output(branch, "app") == expected(branch)
        assert rig.binary_output("b2", "app") == expected("b2")


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_a_nested_worktree_without_a_committed_lock_runs_its_own_code(
    tmp_path: Path, layout: str
) -> None:
    # `claude --worktree x` puts a worktree inside the main one (.claude/worktrees/x); with no
    # Cargo.lock committed, the outer one's lock is the nearest file above the nested one's.
    checkouts = make_worktrees(tmp_path / "repo" / "main", ["main"], prepare=render_buildkit)
    main = checkouts["main"]
    git(main, "rm", "-q", "--cached", "Cargo.lock")
    (main / ".gitignore").write_text("/target\n/Cargo.lock\n/.claude/worktrees/\n")
    git(main, "commit", "-qam", "no lock")
    nested = main / ".claude" / "worktrees" / "x"
    # its ../../outside/ path dependency, as a sibling of the nested worktree
    build_file_tree(nested.parent / "outside", outside_files("main"))
    git(main, "worktree", "add", "-q", "-b", "worktree-x", str(nested))
    lib = nested / "app" / "src" / "lib.rs"
    lib.write_text(lib.read_text().replace('"main-main"', '"x-main"'))
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    toolchain, layout_env = LAYOUTS[layout]
    env = cq_env(state, CARGO_NET_OFFLINE="true", **layout_env)
    for where, first_word in ((main, "main-main"), (nested, "x-main"), (main, "main-main")):
        done = subprocess.run(
            ["dash", str(where / "scripts" / "cq"), *toolchain, "run", "-q", "--bin", "app"],
            cwd=where,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert done.returncode == 0, done.stderr
        assert done.stdout.split()[0] == first_word, (where, done.stdout)


def test_a_registry_unit_compiled_in_one_worktree_is_served_to_another(tmp_path: Path) -> None:
    # The sharing is real: cfg-if, compiled in main, comes from the keyed store in a twin of
    # main (the same content: b2 patches cfg-if, so b2 and b3 are left out): its .rlib is the
    # very file main's compile wrote, while each worktree's own crates compile.
    rig = make_rig(tmp_path, "current")
    assert rig.cq_run("main", "build", "-q").returncode == 0
    twin = tmp_path / "repo" / "twin"
    git(rig.checkouts["main"], "worktree", "add", "-q", "--detach", str(twin))
    rig.checkouts["twin"] = twin
    done = rig.cq_run("twin", "build", "-q")
    assert done.returncode == 0, done.stderr
    (main_rlib,) = (rig.checkouts["main"] / "target").rglob("libcfg_if-*.rlib")
    (twin_rlib,) = (twin / "target").rglob("libcfg_if-*.rlib")
    assert main_rlib.stat().st_ino == twin_rlib.stat().st_ino, "the twin compiled cfg-if again"
    assert rig.binary_output("twin", "app") == expected("main")


# bench/workspaces/embedpath: a proc-macro that reads CARGO_MANIFEST_DIR when it expands, as
# rust-embed's debug mode and sqlx's migrate! do; rustc's dep-info does not record that read, so
# nothing in the compile's inputs says the output holds this worktree's path.
EMBEDPATH = REPO / "bench" / "workspaces" / "embedpath"


def test_a_proc_macro_reading_its_crates_folder_reads_its_own_worktrees(tmp_path: Path) -> None:
    # Two worktrees with the same sources, the same arguments but for their path, and a data
    # file that differs. A cache that shares the workspace's own crates by content (kache's,
    # keys with paths normalized) hands the twin main's compile, and the twin's test reads
    # main's file: tried with kache 2.0.0, the twin printed main's greeting. buildkit shares
    # only registry and git dependencies, so each compile here is the worktree's own; the
    # control is the compiled test itself: each holds its own worktree's path, and only its
    # own, so a compile served from the other worktree would be seen.
    main = Path(shutil.copytree(EMBEDPATH, tmp_path / "repo" / "main"))
    (main / ".gitignore").write_text("/target\n")
    git(main, "init", "-q", "-b", "main")
    render_buildkit(main)
    git(main, "add", "-A")
    git(main, "commit", "-qm", "main")
    twin = tmp_path / "repo" / "twin"
    git(main, "worktree", "add", "-q", "--detach", str(twin))
    (twin / "app" / "data" / "greeting.txt").write_text("twin\n")
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    env = cq_env(state, CARGO_NET_OFFLINE="true")
    test = ["test", "-q", "-p", "app", "--", "--nocapture"]
    for checkout, greeting in ((main, "main"), (twin, "twin"), (main, "main")):
        done = subprocess.run(
            ["dash", str(checkout / "scripts" / "cq"), *test],
            cwd=checkout,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert done.returncode == 0, done.stderr
        assert f"GREETING={greeting}" in done.stdout.split(), (checkout, done.stdout)
    for checkout, other in ((main, twin), (twin, main)):
        (test_binary,) = [
            p
            for p in (checkout / "target" / "debug" / "deps").glob("app-*")
            if p.suffix != ".d" and os.access(p, os.X_OK)
        ]
        compiled = test_binary.read_bytes()
        assert f"{checkout}/app/data".encode() in compiled
        assert f"{other}/app/data".encode() not in compiled
