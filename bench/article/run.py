#!/usr/bin/env python3
"""Reproduce the seed article's table: an agent command matrix over 3 git worktrees, before and
after buildkit, measured with the OS's own accounting (wait4 rusage), ``du`` and ``find``.

    python3 bench/article/run.py [WORKSPACE] [--out DIR] [--buildkit PATH] [--sides before,after]

WORKSPACE defaults to ../shared/fixtures/seedlike-workspace; it is copied, never built in place.
Each side writes DIR/<side>.json as soon as it finishes; the report (DIR/result.json and
DIR/table.md) is rebuilt from whatever side files exist, so a side can be re-run alone.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
DEFAULT_WORKSPACE = REPO.parent / "shared" / "fixtures" / "seedlike-workspace"
WORKTREES = ("wt1", "wt2", "wt3")
SHARED_DEPS = (
    "hashbrown",
    "getrandom",
    "sha2",
    "url",
    "idna",
    "serde",
    "serde_json",
    "regex",
    "regex_automata",
    "smallvec",
    "memchr",
    "rand",
    "rand_core",
)
# cq's incremental policy: one-shot commands never keep an incremental cache.
ONESHOT = {"test", "check", "clippy", "bench", "doc"}
SERVER = "app-server"
FEATURE = "codegen"


def matrix(members: list[str]) -> list[list[str]]:
    """What an agent runs in one worktree: the issue's commands plus per-crate -p variants."""
    cmds = [
        ["check"],
        ["clippy"],
        ["build"],
        ["build", "-p", SERVER, "--features", FEATURE],
        ["test"],
        ["test", "-p", SERVER, "--features", FEATURE],
    ]
    for member in members:
        if member == SERVER:
            continue
        cmds.append(["test", "-p", member])
        cmds.append(["check", "-p", member])
    return cmds


def sh(args: list[str], cwd: Path, env: dict[str, str] | None = None) -> None:
    subprocess.run(args, cwd=cwd, env=env, check=True, stdout=subprocess.DEVNULL)


def members_of(root: Path) -> list[str]:
    out = subprocess.run(
        ["cargo", "metadata", "--no-deps", "--format-version", "1"],
        cwd=root,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    data = json.loads(out)
    ids = set(data["workspace_members"])
    return sorted(p["name"] for p in data["packages"] if p["id"] in ids)


def prepare(src: Path, base: Path, side: str, buildkit: str) -> list[Path]:
    """A git repository copied from src, set up for the side, plus two more worktrees."""
    main = base / side / WORKTREES[0]
    shutil.copytree(src, main, ignore=shutil.ignore_patterns("target", ".git"))
    git = ["git", "-c", "user.name=bench", "-c", "user.email=bench@localhost"]
    sh([*git, "init", "-q", "-b", "main"], main)
    (main / ".gitignore").write_text("/target\n")
    if side == "after":
        sh([buildkit, "init", "--yes", str(main)], main)
    sh([*git, "add", "-A"], main)
    sh([*git, "commit", "-q", "-m", side], main)
    trees = [main]
    for name in WORKTREES[1:]:
        sh([*git, "worktree", "add", "-q", "--detach", str(base / side / name)], main)
        trees.append(base / side / name)
    return trees


def env_file_vars(tree: Path) -> dict[str, str]:
    """Variables of the rendered .config/buildkit.env, as a POSIX shell would load them."""
    env_file = tree / ".config" / "buildkit.env"
    if not env_file.is_file():
        return {}
    out = subprocess.run(
        ["sh", "-c", '. "$1" && env -0', "sh", str(env_file)],
        env={"PATH": os.environ["PATH"]},
        check=True,
        capture_output=True,
    )
    pairs = (item.split("=", 1) for item in out.stdout.decode().split("\0") if "=" in item)
    return {k: v for k, v in pairs if k not in {"PATH", "PWD", "SHLVL", "_", "OLDPWD"}}


def run_command(cmd: list[str], tree: Path, env: dict[str, str]) -> dict[str, object]:
    start = time.monotonic()
    proc = subprocess.Popen(
        ["cargo", *cmd], cwd=tree, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.monotonic() - start
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        raise SystemExit(f"cargo {' '.join(cmd)} failed in {tree} (exit {code})")
    return {
        "cmd": "cargo " + " ".join(cmd),
        "worktree": tree.name,
        "wall_s": round(wall, 2),
        "cpu_s": round(usage.ru_utime + usage.ru_stime, 2),
    }


def incremental_dirs(tree: Path) -> set[str]:
    found = set()
    for profile_dir in (tree / "target").glob("*/incremental"):
        found |= {f"{profile_dir.parent.name}/{d.name}" for d in profile_dir.iterdir()}
    return found


def find_count(target: Path, *expr: str) -> list[str]:
    out = subprocess.run(["find", str(target), *expr], check=True, capture_output=True, text=True)
    return [line for line in out.stdout.splitlines() if line]


def copies(tree: Path) -> dict[str, dict[str, int]]:
    """Compiled copies of each shared dependency in target/debug/deps, for the version compiled
    most often (two versions of one crate are two packages, not a duplicate): `rlib` counts full
    builds (build/test), `any` adds metadata-only compilations (check/clippy); `versions` is how
    many versions were compiled at all. Each copy's `.d` file names its source directory."""
    deps = tree / "target" / "debug" / "deps"
    files = [p.name for p in deps.iterdir()] if deps.is_dir() else []
    result: dict[str, dict[str, int]] = {}
    for dep in SHARED_DEPS:
        pat = re.compile(rf"^lib{dep}-([0-9a-f]+)\.(rlib|rmeta)$")
        crate = dep.replace("_", "[-_]")
        source = re.compile(rf"/{crate}-(\d+\.\d+\.\d+[^/]*)/")
        rlib: dict[str, set[str]] = {}
        anyk: dict[str, set[str]] = {}
        for name in files:
            m = pat.match(name)
            if not m:
                continue
            d_file = deps / f"{dep}-{m.group(1)}.d"
            found = (
                source.search(d_file.read_text().split("\n", 1)[0]) if d_file.is_file() else None
            )
            version = found.group(1) if found else "?"
            anyk.setdefault(version, set()).add(m.group(1))
            if m.group(2) == "rlib":
                rlib.setdefault(version, set()).add(m.group(1))
        result[dep] = {
            "rlib": max((len(v) for v in rlib.values()), default=0),
            "any": max((len(v) for v in anyk.values()), default=0),
            "versions": len(anyk),
        }
    return result


def du_bytes(path: Path) -> int:
    out = subprocess.run(["du", "-sb", str(path)], check=True, capture_output=True, text=True)
    return int(out.stdout.split()[0])


def run_side(side: str, src: Path, base: Path, buildkit: str) -> dict[str, object]:
    trees = prepare(src, base, side, buildkit)
    members = members_of(trees[0])
    runs = []
    incr_by_kind = {"oneshot": 0, "other": 0}
    for tree in trees:
        env = dict(os.environ)
        env.pop("CARGO_TARGET_DIR", None)
        env.pop("CARGO_BUILD_TARGET_DIR", None)
        env.pop("CARGO_INCREMENTAL", None)
        if side == "after":
            env.update(env_file_vars(tree))
        for cmd in matrix([m for m in members if m != "workspace-hack"]):
            cmd_env = dict(env)
            oneshot = cmd[0] in ONESHOT
            if side == "after" and oneshot:
                cmd_env["CARGO_INCREMENTAL"] = "0"
            before = incremental_dirs(tree)
            run = run_command(cmd, tree, cmd_env)
            new = len(incremental_dirs(tree) - before)
            incr_by_kind["oneshot" if oneshot else "other"] += new
            run["new_incremental_dirs"] = new
            runs.append(run)
            print(
                f"[{side}] {tree.name}: {run['cmd']}: {run['cpu_s']} s CPU, {run['wall_s']} s wall",
                file=sys.stderr,
                flush=True,
            )
    per_tree = {}
    for tree in trees:
        target = tree / "target"
        per_tree[tree.name] = {
            "rlib": len(find_count(target, "-name", "*.rlib")),
            "incremental_dirs": len(incremental_dirs(tree)),
            "bytes": du_bytes(target),
            "copies": copies(tree),
        }
    return {
        "side": side,
        "workspace": str(src),
        "members": members,
        "commands_per_worktree": len(runs) // len(trees),
        "runs": runs,
        "rlib": sum(t["rlib"] for t in per_tree.values()),
        "incremental_dirs": sum(t["incremental_dirs"] for t in per_tree.values()),
        "incremental_dirs_from_oneshot": incr_by_kind["oneshot"],
        "incremental_dirs_from_build": incr_by_kind["other"],
        "bytes": sum(t["bytes"] for t in per_tree.values()),
        "cpu_s": round(sum(float(r["cpu_s"]) for r in runs), 1),
        "wall_s": round(sum(float(r["wall_s"]) for r in runs), 1),
        "copies_max_per_worktree": {
            dep: {
                k: max(t["copies"][dep][k] for t in per_tree.values())
                for k in ("rlib", "any", "versions")
            }
            for dep in SHARED_DEPS
        },
        "worktrees": per_tree,
    }


def ratio(before: float, after: float) -> str:
    return f"{after / before:.2f}" if before else "n/a"


def report(out: Path) -> None:
    sides = {
        s: json.loads((out / f"{s}.json").read_text())
        for s in ("before", "after")
        if (out / f"{s}.json").is_file()
    }
    (out / "result.json").write_text(json.dumps(sides, indent=2) + "\n")
    if len(sides) < 2:
        return
    b, a = sides["before"], sides["after"]
    rows = [
        ("`.rlib` files (3 worktrees)", b["rlib"], a["rlib"]),
        ("incremental dirs, total", b["incremental_dirs"], a["incremental_dirs"]),
        (
            "incremental dirs from one-shot commands",
            b["incremental_dirs_from_oneshot"],
            a["incremental_dirs_from_oneshot"],
        ),
        ("target dirs, MB", round(b["bytes"] / 1e6), round(a["bytes"] / 1e6)),
        ("CPU seconds", b["cpu_s"], a["cpu_s"]),
        ("wall seconds", b["wall_s"], a["wall_s"]),
    ]
    for dep in SHARED_DEPS:
        cb, ca = b["copies_max_per_worktree"][dep], a["copies_max_per_worktree"][dep]
        if cb["any"] or ca["any"]:
            rows.append(
                (
                    f"copies of {dep} per worktree (rlib / rlib+rmeta)",
                    f"{cb['rlib']} / {cb['any']}",
                    f"{ca['rlib']} / {ca['any']}",
                )
            )
    lines = ["| measure | before | after | after/before |", "| --- | ---: | ---: | ---: |"]
    for name, vb, va in rows:
        r = (
            ratio(float(vb), float(va))
            if not isinstance(vb, str)
            else ratio(float(vb.split(" / ")[0]), float(str(va).split(" / ")[0]))
        )
        lines.append(f"| {name} | {vb} | {va} | {r} |")
    (out / "table.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("workspace", nargs="?", type=Path, default=DEFAULT_WORKSPACE)
    parser.add_argument("--out", type=Path, default=HERE / "results")
    parser.add_argument(
        "--buildkit", default=shutil.which("buildkit") or str(REPO / ".venv" / "bin" / "buildkit")
    )
    parser.add_argument("--sides", default="before,after")
    parser.add_argument("--keep", action="store_true", help="keep the built worktrees")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    base = Path(tempfile.mkdtemp(prefix="buildkit-bench-"))
    try:
        for side in args.sides.split(","):
            result = run_side(side, args.workspace.resolve(), base, args.buildkit)
            (args.out / f"{side}.json").write_text(json.dumps(result, indent=2) + "\n")
            if not args.keep:
                shutil.rmtree(base / side)
        report(args.out)
    finally:
        if not args.keep:
            shutil.rmtree(base, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
