"""A bounded soak: cq commands with changing features and profiles under a small gc.max_size.

cq (rendered from a profile with a `gc` section) runs `buildkit gc` after every cargo command
(interval 0s); after each command the target dir, measured by du, stays within the budget plus
one build, and the last build's units survive: a final `cq build` compiles nothing.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from cq.cq_helpers import cq_env, macos_bin, render_cq
from doctor.doctor_helpers import du, make_repo

LOOP = (
    ["build", "-p", "app1"],
    ["build", "-p", "app2"],
    ["test", "--no-run"],
    ["check", "-p", "app1"],
    ["build", "--release", "-p", "app2"],
    ["build", "-p", "app1", "--features", "core-lib/b"],
    ["test", "--no-run", "-p", "app2", "--features", "core-lib/a"],
    ["build", "--release", "-p", "app1"],
    ["check", "--features", "core-lib/a core-lib/b"],
    ["build"],
)


def _compiled(stderr: str) -> int:
    return sum(
        1 for line in stderr.splitlines() if line.lstrip().startswith(("Compiling", "Checking"))
    )


def test_cq_keeps_the_target_dir_under_budget(tmp_path: Path) -> None:
    # one build: the biggest single command of the loop on a fresh target dir
    fresh = make_repo(tmp_path / "fresh")
    env = cq_env(tmp_path / "state-fresh")
    subprocess.run(["cargo", "test", "--no-run", "-q"], cwd=fresh, env=env, check=True)
    one_build = du(fresh / "target")
    budget = one_build // 2  # small: the loop's copies add up to several builds

    root = make_repo(tmp_path / "ws")
    (root / "buildkit.yaml").write_text(f"version: 1\ngc:\n  max_size: '{budget}'\n")
    cq = render_cq(
        root / "scripts" / "cq", sections={"gc": {"max_size": str(budget), "interval": "0s"}}
    )
    env = cq_env(tmp_path / "state")
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"  # buildkit on PATH
    compiled = 0
    for args in LOOP:
        ran = subprocess.run(
            ["sh", str(cq), *args, "-v"], cwd=root, env=env, capture_output=True, text=True
        )
        assert ran.returncode == 0, (args, ran.stderr[-2000:])
        assert "gc failed" not in ran.stderr and "not on PATH" not in ran.stderr
        compiled += _compiled(ran.stderr)
        size = du(root / "target")
        assert size <= budget + one_build, (args, size, budget, one_build)
    left = len(list((root / "target").glob("*/.fingerprint/*")))
    assert left < compiled, "gc never removed a unit: the budget was not exercised"
    assert (root / ".git" / "buildkit" / "gc.stamp").is_file()
    final = subprocess.run(
        ["sh", str(cq), "build", "-v"], cwd=root, env=env, capture_output=True, text=True
    )
    assert final.returncode == 0, final.stderr
    assert _compiled(final.stderr) == 0, final.stderr


def _path_without_buildkit(path: str, mirrors: Path) -> str:
    """PATH with every buildkit hidden, not only this interpreter's (a shell may hold another):
    a folder holding one is replaced by a folder of links to its other programs, so that a
    buildkit in /usr/bin does not take sh and git with it."""
    out = []
    for n, entry in enumerate(path.split(os.pathsep)):
        folder = Path(entry)
        if entry and (folder / "buildkit").exists():
            mirror = mirrors / str(n)
            mirror.mkdir(parents=True)
            for program in folder.iterdir():
                if program.name != "buildkit":
                    (mirror / program.name).symlink_to(program)
            entry = str(mirror)
        out.append(entry)
    return os.pathsep.join(out)


def test_without_buildkit_cq_builds_and_says_so_once(tmp_path: Path) -> None:
    root = make_repo(tmp_path / "ws")
    cq = render_cq(root / "scripts" / "cq", sections={"gc": {"max_size": "1M", "interval": "0s"}})
    env = cq_env(tmp_path / "state")
    env["PATH"] = _path_without_buildkit(env["PATH"], tmp_path / "path")
    assert subprocess.run(["sh", "-c", "command -v buildkit"], env=env).returncode != 0
    notes = []
    for args in (["check", "-p", "app1"], ["check", "-p", "app2"]):
        ran = subprocess.run(
            ["dash", str(cq), *args], cwd=root, env=env, capture_output=True, text=True
        )
        assert ran.returncode == 0, ran.stderr
        notes.append(ran.stderr.count("buildkit is not on PATH"))
    assert notes == [1, 0]


def test_a_failing_gc_does_not_change_cqs_exit_code(tmp_path: Path) -> None:
    root = make_repo(tmp_path / "ws")
    cq = render_cq(root / "scripts" / "cq", sections={"gc": {"max_age": "1d", "interval": "0s"}})
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "buildkit").write_text("#!/bin/sh\nexit 3\n")
    (fake / "buildkit").chmod(0o755)
    # and as on macOS: flock, setsid and nproc hidden from PATH (cq's perl stand-ins)
    macos = macos_bin(tmp_path / "macos-bin")
    env = cq_env(tmp_path / "state", path=f"{fake}{os.pathsep}{macos}")
    ran = subprocess.run(
        ["dash", str(cq), "check", "-p", "app1"], cwd=root, env=env, capture_output=True, text=True
    )
    assert ran.returncode == 0, ran.stderr
    assert "buildkit gc failed (exit 3)" in ran.stderr
