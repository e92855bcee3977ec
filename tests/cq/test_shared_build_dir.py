"""cq's shared build-dir never serves one worktree another worktree's code (issue 12).

Three worktrees on branches whose binary text, build-script output, proc-macro, vendor/ path
dependency, example and test assertion differ take turns through the real cq and real cargo in
a seeded random order (build, run, test, and a plain cargo build outside cq), with their source
mtimes pushed into the past and the future. After every step each worktree's own binary must
print its own branch's text. The control runs the same sequence through a cq whose invalidation
is cut out (the old behaviour) and must observe wrong code."""

from __future__ import annotations

import fcntl
import os
import random
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from cq.cq_helpers import cq_env, git, macos_bin, render_cq
from cq.shared_workspace import EXPECTED, make_shared_repo, source_files

BRANCHES = ["main", "b2", "b3"]
STEPS = 30
SEED = 12
# Lines of the rendered cq that the controls cut out: the decision to invalidate, the removal
# of a path package's build/ dir (its OUT_DIR), the links to the worktree's binaries.
NO_INVALIDATION = ('if [ "$cq_last" != "$cq_ws" ]; then', "if false; then")
KEEP_OUT_DIR = ('rm -rf -- "$cq_f" "$cq_p/build/${cq_f##*/}"', 'rm -rf -- "$cq_f"')
NO_LINKS = ('    cq_share_bins "$@"\n', "    :\n")


@dataclass
class Rig:
    cq: Path
    checkouts: dict[str, Path]
    env: dict[str, str]
    build_dir: Path
    wrong: list[str] = field(default_factory=list)

    def cq_run(self, branch: str, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["dash", str(self.cq), *args],
            cwd=self.checkouts[branch],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=600,
        )

    def plain_cargo(self, branch: str, *args: str) -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in self.env.items() if not k.startswith("CQ_")}
        return subprocess.run(
            ["cargo", *args],
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


def make_rig(tmp_path: Path, *cuts: tuple[str, str]) -> Rig:
    """Three worktrees and the real cq; each cut replaces one line of cq (the controls)."""
    checkouts = make_shared_repo(tmp_path / "repo", BRANCHES)
    cq = render_cq(tmp_path / "cq" / "cq", shared_target_dir=True)
    text = cq.read_text()
    for line, replacement in cuts:
        assert text.count(line) == 1, f"the control must find the line it cuts out: {line}"
        text = text.replace(line, replacement)
    cq.write_text(text)
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    env = cq_env(state, CARGO_NET_OFFLINE="true")
    common = git(checkouts["main"], "rev-parse", "--path-format=absolute", "--git-common-dir")
    return Rig(cq, checkouts, env, Path(common.strip()) / "buildkit" / "build-dir")


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
    expected = EXPECTED.format(b=branch)
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
        assert "NESTED_BUILD_DIR=None\n" in done.stdout, done.stdout
        if done.returncode != 0 or f"RAN {branch}\n" not in done.stdout:
            rig.wrong.append(f"{op} in {branch}: rc {done.returncode}\n{done.stdout}{done.stderr}")
        return
    assert done.returncode == 0, f"{op} in {branch} failed:\n{done.stderr}"
    if op == "run" and done.stdout.strip() != expected:
        rig.wrong.append(f"run in {branch} printed {done.stdout.strip()!r}")


def check_every_binary(rig: Rig, after: str) -> None:
    """Each worktree's target/ holds its own branch's binary and example, whatever ran last."""
    for branch in BRANCHES:
        seen = rig.binary_output(branch, "app")
        if seen is not None and seen != EXPECTED.format(b=branch):
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


def test_alternating_worktrees_each_get_their_own_code(tmp_path: Path) -> None:
    rig = make_rig(tmp_path)
    history = alternate(rig, stop_at_first_wrong=False)
    assert not rig.wrong, "\n".join(history) + "\n\nWRONG:\n" + "\n".join(rig.wrong)
    ops = {h.split(" in ")[0] for h in history}
    assert {"build", "run", "test", "plain"} <= ops, history
    # the sharing is real: one build-dir holds the units, not each worktree's target/
    assert list(rig.build_dir.glob("debug/deps/libcfg_if-*.rlib"))


def test_control_without_invalidation_serves_another_worktrees_code(tmp_path: Path) -> None:
    # The old behaviour (a build-dir shared with nothing invalidated) on the same sequence.
    rig = make_rig(tmp_path, NO_INVALIDATION)
    history = alternate(rig, stop_at_first_wrong=True)
    print("\n".join(history), "\n".join(rig.wrong), sep="\nWRONG:\n")
    assert rig.wrong, "the control saw no wrong code; the stress sequence proves nothing:\n" + (
        "\n".join(history)
    )


def test_a_new_worktree_compiles_no_registry_dependency_a_sibling_compiled(
    tmp_path: Path,
) -> None:
    rig = make_rig(tmp_path)
    first = rig.cq_run("main", "build", "-v")
    assert first.returncode == 0, first.stderr
    assert "Compiling cfg-if" in first.stderr
    for branch in BRANCHES[1:]:
        done = rig.cq_run(branch, "build", "-v")
        assert done.returncode == 0, done.stderr
        assert "Compiling cfg-if" not in done.stderr, f"{branch} compiled cfg-if again"
        assert "Fresh cfg-if" in done.stderr
        # its own path packages are compiled from its own sources
        for package in ("app", "mac", "vlib"):
            assert f"Compiling {package} " in done.stderr, (branch, package)
        assert rig.binary_output(branch, "app") == EXPECTED.format(b=branch)
    assert len(list(rig.build_dir.glob("debug/deps/libcfg_if-*.rlib"))) == 1
    # the same worktree building again after itself compiles nothing
    again = rig.cq_run(BRANCHES[-1], "build", "-v")
    assert again.returncode == 0 and "Compiling" not in again.stderr, again.stderr


def test_worktrees_without_a_cargo_lock_get_their_own_code(tmp_path: Path) -> None:
    # No Cargo.lock to name the path packages: every unknown name is rebuilt.
    rig = make_rig(tmp_path)
    for branch in [*BRANCHES, *BRANCHES]:
        (rig.checkouts[branch] / "Cargo.lock").unlink(missing_ok=True)
        push_mtimes(random.Random(branch), rig.checkouts[branch])  # noqa: S311
        done = rig.cq_run(branch, "run", "--quiet", "--bin", "app")
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == EXPECTED.format(b=branch)


def host_triple() -> str:
    facts = subprocess.run(["rustc", "-vV"], capture_output=True, text=True, check=True).stdout
    return next(line.split()[1] for line in facts.splitlines() if line.startswith("host:"))


@pytest.mark.parametrize("flags", ["", "--release", "--profile=custom", "--target=HOST"])
def test_tests_find_the_binary_next_to_their_executable(tmp_path: Path, flags: str) -> None:
    # The first cq test in each worktree, before any build, in each profile and target dir:
    # the binary next to the test executable, the example, CARGO_BIN_EXE_app and OUT_DIR are
    # the worktree's own (the test asserts each).
    rig = make_rig(tmp_path)
    flags = flags.replace("HOST", host_triple())
    for branch in [*BRANCHES, *BRANCHES]:
        done = rig.cq_run(branch, "test", *flags.split(), "--quiet", "--", "--nocapture")
        assert done.returncode == 0, done.stdout + done.stderr
        assert f"RAN {branch}\n" in done.stdout


def test_control_without_links_tests_miss_the_binary(tmp_path: Path) -> None:
    # Without cq's links, a test executable in the shared build-dir finds no binary beside it.
    rig = make_rig(tmp_path, NO_LINKS)
    done = rig.cq_run("main", "test", "--quiet", "--", "--nocapture")
    assert done.returncode != 0
    assert "No such file or directory" in done.stdout + done.stderr


def test_control_keeping_out_dir_shows_another_branchs_generated_file(tmp_path: Path) -> None:
    # Without removing a path package's build/ dir, main's OUT_DIR file outlives the switch.
    rig = make_rig(tmp_path, KEEP_OUT_DIR)
    assert rig.cq_run("main", "test", "--quiet").returncode == 0
    done = rig.cq_run("b2", "test", "--quiet", "--", "--nocapture")
    assert done.returncode != 0
    assert "RAN b2" in done.stdout and "only-main" in done.stdout + done.stderr


def shared_build_dir_of(repo: Path) -> Path:
    common = git(repo, "rev-parse", "--path-format=absolute", "--git-common-dir").strip()
    return Path(common) / "buildkit" / "build-dir"


@pytest.mark.parametrize("setting", [None, False])
def test_default_shares_once_the_repository_has_a_second_worktree(
    tmp_path: Path, setting: bool | None
) -> None:
    # The default (auto): a lone checkout keeps everything in its target/; once a linked
    # worktree exists, both share the build-dir. shared_target_dir: false never shares.
    checkouts = make_shared_repo(tmp_path / "repo", ["main"])
    main = checkouts["main"]
    cq = render_cq(
        tmp_path / "cq" / "cq", **({} if setting is None else {"shared_target_dir": setting})
    )
    assert f"cq_shared_target={'auto' if setting is None else '0'}\n" in cq.read_text()
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    env = cq_env(state, CARGO_NET_OFFLINE="true")

    def build(where: Path) -> None:
        done = subprocess.run(
            ["dash", str(cq), "build", "--quiet"], cwd=where, env=env, capture_output=True
        )
        assert done.returncode == 0, done.stderr

    build(main)
    assert list((main / "target" / "debug" / "deps").glob("libcfg_if-*.rlib"))
    assert not shared_build_dir_of(main).exists()
    other = tmp_path / "other"
    git(main, "worktree", "add", "-q", "-b", "other", str(other))
    for where in (other, main):
        build(where)
        shares = shared_build_dir_of(main).is_dir()
        assert shares == (setting is None), where
        # the worktree's binary is uplifted from the build-dir the build used
        app = (where / "target" / "debug" / "app").stat().st_ino
        build_dir = shared_build_dir_of(main) if shares else where / "target"
        assert app in {p.stat().st_ino for p in build_dir.glob("debug/deps/app-*")}, where


def test_cargo_without_build_dir_does_not_share(tmp_path: Path) -> None:
    # cargo before 1.91 has no build.build-dir: cq must not share a CARGO_TARGET_DIR instead.
    # The only stand-in: a cargo that reports 1.90 for --version and is the real one otherwise
    # (no older toolchain can be installed here).
    rig = make_rig(tmp_path)
    fake = tmp_path / "bin"
    fake.mkdir()
    real = subprocess.run(["sh", "-c", "command -v cargo"], capture_output=True, text=True)
    (fake / "cargo").write_text(
        "#!/bin/sh\n"
        'if [ "$1" = --version ]; then echo "cargo 1.90.0 (fake 2025-08-01)"; exit 0; fi\n'
        f'exec {real.stdout.strip()} "$@"\n'
    )
    (fake / "cargo").chmod(0o755)
    rig.env["PATH"] = f"{fake}{os.pathsep}{rig.env['PATH']}"
    for branch in BRANCHES[:2]:
        done = rig.cq_run(branch, "build", "--quiet")
        assert done.returncode == 0, done.stderr
        assert rig.binary_output(branch, "app") == EXPECTED.format(b=branch)
        assert (rig.checkouts[branch] / "target" / "debug" / "deps").is_dir()
    assert not rig.build_dir.parent.exists(), "nothing shared under the git common dir"


def test_a_build_dir_in_a_cargo_config_file_wins(tmp_path: Path) -> None:
    # The user's own build.build-dir (here per worktree) is kept: cq does not share.
    rig = make_rig(tmp_path)
    for branch, checkout in rig.checkouts.items():
        (checkout / ".cargo").mkdir()
        (checkout / ".cargo" / "config.toml").write_text(
            '[build]\nbuild-dir = "{workspace-root}/mine"\n'
        )
        done = rig.cq_run(branch, "build", "--quiet")
        assert done.returncode == 0, done.stderr
        assert list((checkout / "mine" / "debug" / "deps").glob("app-*"))
    assert not rig.build_dir.exists()


def test_clippy_shares_through_the_environment(tmp_path: Path) -> None:
    # clippy does not see cq's --config: cq gives it the shared build-dir in its environment,
    # so its dependencies are the ones `cq check` compiled (not once more per worktree).
    rig = make_rig(tmp_path)
    for branch in BRANCHES[:2]:
        done = rig.cq_run(branch, "clippy", "--quiet")
        assert done.returncode == 0, done.stderr
        assert not (rig.checkouts[branch] / "target" / "debug" / "deps").exists()
    assert list((rig.build_dir / "debug" / "deps").glob("libapp-*.rmeta"))


def test_a_build_waits_for_the_shared_dir_held_by_another_queue(tmp_path: Path) -> None:
    # cq's in different queues (another cq.scope or CQ_SCOPE) still take turns on the dir.
    rig = make_rig(tmp_path)
    lock = rig.build_dir.parent / "share-state" / "lock"
    lock.parent.mkdir(parents=True)
    lock.touch()
    with lock.open() as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        waiting = subprocess.Popen(
            ["dash", str(rig.cq), "build", "--quiet"],
            cwd=rig.checkouts["main"],
            env=rig.env,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert waiting.stderr is not None
        line = waiting.stderr.readline()
        assert "waiting for the shared build-dir" in line
        time.sleep(1)
        assert waiting.poll() is None, "the build ran while another queue held the dir"
        assert not rig.build_dir.exists()
    assert waiting.wait(timeout=300) == 0
    assert rig.binary_output("main", "app") == EXPECTED.format(b="main")


@pytest.mark.parametrize("control", [False, True], ids=["cq", "control-no-invalidation"])
@pytest.mark.parametrize("command", ["check", "clippy"])
def test_check_reports_each_worktrees_own_errors(
    tmp_path: Path, control: bool, command: str
) -> None:
    # b2 does not compile; main does. With every source file of both at one moment in the
    # past, `cq check` still says so for each (the control, without invalidation, passes b2 on
    # main's metadata).
    rig = make_rig(tmp_path, *([NO_INVALIDATION] if control else []))
    lib = rig.checkouts["b2"] / "app" / "src" / "lib.rs"
    lib.write_text(lib.read_text() + 'pub fn broken() -> u32 { "not a number" }\n')
    for checkout in rig.checkouts.values():
        for path in source_files(checkout):
            os.utime(path, (978307200, 978307200))
    outcomes = [
        (branch, rig.cq_run(branch, command, "--quiet").returncode == 0)
        for branch in ["main", "b2", "main", "b2"]
    ]
    expected = [("main", True), ("b2", False), ("main", True), ("b2", False)]
    if control:
        assert outcomes != expected, "the control saw every worktree's own errors"
    else:
        assert outcomes == expected


def test_without_flock_and_setsid_as_on_macos(tmp_path: Path) -> None:
    # perl stands in for flock/setsid (the shared dir's lock too); bash instead of dash.
    rig = make_rig(tmp_path)
    rig.env["PATH"] = str(macos_bin(tmp_path / "macos-bin"))
    for branch in [*BRANCHES, "main"]:
        done = subprocess.run(
            ["bash", str(rig.cq), "test", "--quiet", "--", "--nocapture"],
            cwd=rig.checkouts[branch],
            env=rig.env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        assert f"RAN {branch}\n" in done.stdout
