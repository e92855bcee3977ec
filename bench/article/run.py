#!/usr/bin/env python3
"""Reproduce the seed article's table: an agent command matrix over 3 git worktrees, before and
after buildkit, measured with the OS's own accounting (wait4 rusage), ``du`` and ``find``.

    python3 bench/article/run.py [WORKSPACE] [--out DIR] [--buildkit PATH] [--sides LIST]
        [--scenario matrix|alternate|fresh|both|all] [--kache PATH]

WORKSPACE defaults to bench/workspaces/seedlike; it is copied (its files as they
are), never built in place. The command matrix comes from the workspace's own members,
features and default members (`cargo metadata`). buildkit is the one on PATH (or --buildkit).
Each side writes DIR/<side>.json as soon as it finishes (DIR: a new temporary directory unless
--out says where); the report (DIR/result.json and DIR/table.md) is rebuilt from whatever side
files exist, so a side can be re-run alone.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from hashlib import sha256
from pathlib import Path

from floor import rlib_floor  # bench/article/floor.py, next to this script

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
DEFAULT_WORKSPACE = REPO / "bench" / "workspaces" / "seedlike"
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
# One-shot commands (cq runs them with CARGO_INCREMENTAL=0): counted apart in the report.
ONESHOT = {"test", "check", "clippy", "bench", "doc"}
# Crates whose duplicate copies the table always shows (the article's); others are shown when
# the "before" side compiled them more than once.
MAX_EXTRA_DEPS = 12


def workspace_facts(root: Path) -> dict[str, object]:
    """Members (name -> declared features, `default` excluded) and default members, from
    `cargo metadata --no-deps` of the workspace as it is."""
    out = subprocess.run(
        ["cargo", "metadata", "--no-deps", "--format-version", "1"],
        cwd=root,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    data = json.loads(out)
    ids = data["workspace_members"]
    by_id = {p["id"]: p for p in data["packages"]}
    members = {}
    for i in ids:
        features = by_id[i].get("features", {})
        on_by_default = set(features.get("default", []))
        # Features a default build does not turn on first: those are what `--features` adds.
        declared = sorted(f for f in features if f != "default")
        members[by_id[i]["name"]] = sorted(declared, key=lambda f: f in on_by_default)
    defaults = [by_id[i]["name"] for i in data.get("workspace_default_members") or ids]
    return {"members": members, "default_members": defaults}


def matrix(members: dict[str, list[str]]) -> list[list[str]]:
    """What agents run in one worktree: the whole workspace (its default members) checked,
    linted, built and tested; each member tested and checked alone; and each member with
    features built and tested with its first feature that a default build leaves off, as an
    agent working on it would."""
    cmds = [["check"], ["clippy"], ["build"], ["test"]]
    for member, features in sorted(members.items()):
        if features:
            cmds.append(["build", "-p", member, "--features", features[0]])
            cmds.append(["test", "-p", member, "--features", features[0]])
    for member in sorted(members):
        cmds.append(["test", "-p", member])
        cmds.append(["check", "-p", member])
    return cmds


# Sides without buildkit: plain cargo (what a user does without it) and the best peer (plain
# cargo with kache as the rustc wrapper).
PLAIN_SIDES = {"before", "kache"}
# What each buildkit side adds to its buildkit.yaml (`after` is buildkit's default).
SIDE_PROFILES = {
    "after": "",
    # the incremental policy the default replaced (the article's): incremental off for the
    # commands of the edit-test loop too
    "after-oneshot": (
        "cq:\n  oneshot_commands: "
        "[test, t, check, c, clippy, bench, doc, d, nextest, rustdoc, fix]\n"
    ),
    # isolation alone, no compiler cache
    "after-nocache": "cache:\n  engine: none\n",
    # the old way's CPU, for reference: one build-dir for every worktree (it can run another
    # worktree's code); no cache
    "unsafe-shared": "cache:\n  engine: none\n",
}
SIDES = ("before", "after", "after-oneshot", "after-nocache", "kache", "unsafe-shared")


class SideFailed(Exception):
    """A command of a side failed: the side is recorded as failed and the others go on."""


def sh(args: list[str], cwd: Path, env: dict[str, str] | None = None) -> None:
    subprocess.run(args, cwd=cwd, env=env, check=True, stdout=subprocess.DEVNULL)


def prepare(src: Path, base: Path, side: str, buildkit: str, worktrees: int) -> list[Path]:
    """A git repository copied from src (its files as they are), set up for the side, plus
    more worktrees."""
    main = base / side / WORKTREES[0]
    shutil.copytree(src, main, ignore=shutil.ignore_patterns("target", ".git"))
    git = ["git", "-c", "user.name=bench", "-c", "user.email=bench@localhost"]
    sh([*git, "init", "-q", "-b", "main"], main)
    if side not in PLAIN_SIDES:
        # --no-clippy: init's clippy run would build target/ before the matrix is measured.
        with (main / "buildkit.yaml").open("w") as profile:
            profile.write("version: 1\n" + SIDE_PROFILES.get(side, ""))
        sh([buildkit, "init", "--yes", "--no-clippy", str(main)], main)
    sh([*git, "add", "-A"], main)
    sh([*git, "commit", "-q", "-m", side], main)
    trees = [main]
    for name in WORKTREES[1:worktrees]:
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


def cache_daemon_cpu(base: Path) -> float:
    """CPU seconds so far of the compiler cache's long-lived processes this run started (the
    sccache server, kache's daemon: they compile for cargo, outside its process tree, so wait4
    does not see them): every process whose environment names this run's directory, with its
    reaped children (the compilers it ran)."""
    total = 0
    marker = str(base).encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if marker not in (entry / "environ").read_bytes():
                continue
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += sum(int(f) for f in fields[11:15])  # utime stime cutime cstime
    return total / os.sysconf("SC_CLK_TCK")


def run_command(
    cmd: list[str], tree: Path, env: dict[str, str], *, via_cq: bool, base: Path
) -> dict[str, object]:
    """One command as an agent runs it: plain cargo before, the repository's cq after (its
    incremental policy, burst jobs and queue are part of what is measured). Its CPU includes
    what the compiler cache's server or daemon spent for it."""
    program = [str(tree / "scripts" / "cq")] if via_cq else ["cargo"]
    daemons = cache_daemon_cpu(base)
    start = time.monotonic()
    proc = subprocess.Popen(
        [*program, *cmd], cwd=tree, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    assert proc.stderr is not None
    err = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.monotonic() - start
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        last = err.decode(errors="replace").strip().splitlines()[-3:]
        raise SideFailed(
            f"cargo {' '.join(cmd)} failed in {tree.name} (exit {code}): {' | '.join(last)}"
        )
    cache_cpu = cache_daemon_cpu(base) - daemons
    return {
        "cmd": "cargo " + " ".join(cmd),
        "worktree": tree.name,
        "wall_s": round(wall, 2),
        "cpu_s": round(usage.ru_utime + usage.ru_stime + cache_cpu, 2),
        "cache_daemon_cpu_s": round(cache_cpu, 2),
    }


def stop_cache_daemons(side: str, base: Path, env: dict[str, str]) -> None:
    """Stop the side's sccache server or kache daemon (they would idle on otherwise); never
    raises: it runs on the way out of a side that may have failed for this very reason."""
    if side == "kache":
        with contextlib.suppress(OSError):
            subprocess.run([env["RUSTC_WRAPPER"], "daemon", "stop"], env=env, capture_output=True)
        return
    sccache = shutil.which("sccache", path=env.get("PATH"))
    if sccache:
        socket = cache_dir(base, side) / "sock"
        stop_env = {**env, "SCCACHE_SERVER_UDS": str(socket)}
        subprocess.run([sccache, "--stop-server"], env=stop_env, capture_output=True)


def cache_dir(base: Path, side: str) -> Path:
    """The side's compiler cache (store and socket), apart from every other side's."""
    return base / side / "cache"


def unsafe_build_dir(base: Path) -> Path:
    """The old behaviour's shared build-dir: one CARGO_BUILD_BUILD_DIR for every worktree, with
    nothing that forgets another worktree's path-package units (rust-lang/cargo#17312)."""
    return base / "unsafe-shared" / "shared-build-dir"


def build_roots(side: str, trees: list[Path], base: Path) -> list[Path]:
    """Every directory cargo writes `<profile>/deps` and `<profile>/incremental` into."""
    roots = [tree / "target" for tree in trees]
    if side == "unsafe-shared":
        roots.append(unsafe_build_dir(base))
    return roots


def workspace_key(tree: Path) -> str:
    """What decides the floor: the workspace's manifests and lockfile (buildkit init adds a
    workspace-hack member and changes the members' dependencies; the sides share the rest)."""
    digest = sha256()
    for path in sorted(tree.rglob("Cargo.*")):
        if path.name in {"Cargo.toml", "Cargo.lock"} and "target" not in path.parts:
            digest.update(str(path.relative_to(tree)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def member_sources(tree: Path) -> list[Path]:
    """Each workspace member's library source (its binary's when it has no library), sorted by
    member name: where the alternate scenario's agents make their edits."""
    out = subprocess.run(
        ["cargo", "metadata", "--no-deps", "--format-version", "1", "--offline"],
        cwd=tree,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    data = json.loads(out)
    by_id = {p["id"]: p for p in data["packages"]}
    sources = []
    for package in sorted((by_id[i] for i in data["workspace_members"]), key=lambda p: p["name"]):
        if package["name"] == "workspace-hack":
            continue
        targets = {k: t["src_path"] for t in package["targets"] for k in t["kind"]}
        src = targets.get("lib") or targets.get("bin")
        if src:
            sources.append(Path(src).relative_to(tree.resolve()))
    return sources


def edit(tree: Path, source: Path, step: int) -> None:
    """A small edit an agent makes: one new item at the end of a member's source."""
    path = tree / source
    text = path.read_text()
    sep = "" if text.endswith("\n") else "\n"
    path.write_text(f"{text}{sep}#[allow(dead_code)]\nconst BENCH_EDIT_{step}: u32 = {step};\n")


def incremental_dirs(roots: list[Path]) -> set[str]:
    found = set()
    for root in roots:
        for profile_dir in root.glob("*/incremental"):
            found |= {str(d) for d in profile_dir.iterdir()}
    return found


def find_count(target: Path, *expr: str) -> list[str]:
    out = subprocess.run(["find", str(target), *expr], check=True, capture_output=True, text=True)
    return [line for line in out.stdout.splitlines() if line]


def compiled_crates(root: Path) -> set[str]:
    deps = root / "debug" / "deps"
    names = (p.name for p in deps.iterdir()) if deps.is_dir() else iter(())
    found = (re.match(r"^lib(\w+?)-[0-9a-f]+\.(rlib|rmeta)$", n) for n in names)
    return {m.group(1) for m in found if m}


def copies(root: Path, crates: list[str]) -> dict[str, dict[str, int]]:
    """Compiled copies of each shared dependency in target/debug/deps, for the version compiled
    most often (two versions of one crate are two packages, not a duplicate): `rlib` counts full
    builds (build/test), `any` adds metadata-only compilations (check/clippy); `versions` is how
    many versions were compiled at all. Each copy's `.d` file names its source directory."""
    deps = root / "debug" / "deps"
    files = [p.name for p in deps.iterdir()] if deps.is_dir() else []
    result: dict[str, dict[str, int]] = {}
    for dep in crates:
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


def du_total(paths: list[Path]) -> int:
    """Bytes of all paths together, each hard-linked file once (du skips an inode it saw)."""
    out = subprocess.run(
        ["du", "-sbc", *map(str, paths)], check=True, capture_output=True, text=True
    )
    return int(out.stdout.splitlines()[-1].split()[0])


def du_bytes(path: Path) -> int:
    out = subprocess.run(["du", "-sb", str(path)], check=True, capture_output=True, text=True)
    return int(out.stdout.split()[0])


def side_env(side: str, tree: Path, base: Path, kache: str | None = None) -> dict[str, str]:
    env = dict(os.environ)
    for name in ("CARGO_TARGET_DIR", "CARGO_BUILD_TARGET_DIR", "CARGO_BUILD_BUILD_DIR"):
        env.pop(name, None)
    for name in ("CARGO_INCREMENTAL", "RUSTC_WRAPPER", "CARGO_BUILD_RUSTC_WRAPPER"):
        env.pop(name, None)
    env = {k: v for k, v in env.items() if not k.startswith(("SCCACHE_", "KACHE_"))}
    env["BUILDKIT_CACHE_DIR"] = str(cache_dir(base, side))
    if side not in PLAIN_SIDES:
        env.update(env_file_vars(tree))
        env["CQ_STATE_DIR"] = str(base / "cq-state")  # a private queue for the bench
    if side == "unsafe-shared":
        env["CARGO_BUILD_BUILD_DIR"] = str(unsafe_build_dir(base))
    if side == "kache":
        if not kache or not os.access(kache, os.X_OK):
            where = kache or "not on PATH"
            raise SideFailed(f"kache is not installed ({where}; pass --kache PATH)")
        env["RUSTC_WRAPPER"] = kache
        env["KACHE_CACHE_DIR"] = str(cache_dir(base, side))
        env["KACHE_RUNTIME_DIR"] = str(base / side / "kache-run")
    return env


def alternate(
    side: str, trees: list[Path], base: Path, rounds: int, sources: list[Path], kache: str | None
) -> dict[str, object]:
    """Agents alternate worktrees: wt1, wt2, wt3, wt1, ... each makes a small edit in a member
    (the members in turn) and runs `cargo test` (through cq after buildkit)."""
    runs = []
    step = 0
    for _ in range(rounds):
        for tree in trees:
            source = sources[step % len(sources)]
            edit(tree, source, step)
            env = side_env(side, tree, base, kache)
            run = run_command(["test"], tree, env, via_cq=side not in PLAIN_SIDES, base=base)
            run["edited"] = str(source)
            runs.append(run)
            step += 1
            print(
                f"[{side}] alternate {tree.name}: edit {source}, {run['cmd']}: "
                f"{run['cpu_s']} s CPU, {run['wall_s']} s wall",
                file=sys.stderr,
                flush=True,
            )
    return {
        "rounds": rounds,
        "runs": runs,
        "cpu_s": round(sum(float(r["cpu_s"]) for r in runs), 1),
        "wall_s": round(sum(float(r["wall_s"]) for r in runs), 1),
    }


def fresh(side: str, src: Path, base: Path, buildkit: str, kache: str | None) -> dict[str, object]:
    """A new worktree's first `cargo test` with the cache warm from a sibling, against the
    same command in the first worktree, cold (nothing compiled yet, an empty cache): its own
    repository and cache, apart from the other scenarios."""
    home = base / "fresh"
    (cold_tree,) = prepare(src, home, side, buildkit, 1)
    via_cq = side not in PLAIN_SIDES
    try:
        cold = run_command(
            ["test"], cold_tree, side_env(side, cold_tree, home, kache), via_cq=via_cq, base=home
        )
        new_tree = home / side / "wt-new"
        sh(["git", "worktree", "add", "-q", "--detach", str(new_tree)], cold_tree)
        new = run_command(
            ["test"], new_tree, side_env(side, new_tree, home, kache), via_cq=via_cq, base=home
        )
    finally:
        stop_cache_daemons(side, home, side_env(side, cold_tree, home, kache))
    for name, run in (("cold", cold), ("new worktree", new)):
        print(
            f"[{side}] fresh, {name}: {run['cmd']}: {run['cpu_s']} s CPU, {run['wall_s']} s wall",
            file=sys.stderr,
            flush=True,
        )
    return {
        "cold": cold,
        "new": new,
        "wall_ratio": round(float(new["wall_s"]) / float(cold["wall_s"]), 2),
        "cpu_ratio": round(float(new["cpu_s"]) / max(float(cold["cpu_s"]), 0.01), 2),
    }


def unique_compiled_rlibs(roots: list[Path]) -> int:
    """Compiled `.rlib` files (in `deps/`) of every root, a hard-linked file counted once: what
    is on disk, however many worktrees link it."""
    seen = set()
    for root in roots:
        for path in find_count(root, "-path", "*/deps/*", "-name", "*.rlib"):
            info = Path(path).stat()
            seen.add((info.st_dev, info.st_ino))
    return len(seen)


def run_side(
    side: str,
    src: Path,
    base: Path,
    buildkit: str,
    commands: list[list[str]],
    worktrees: int,
    *,
    scenarios: tuple[str, ...] = ("matrix", "alternate"),
    rounds: int = 2,
    floors: dict[str, int] | None = None,
    kache: str | None = None,
) -> dict[str, object]:
    """One side, every scenario asked for; a failing command ends the side (recorded as failed
    by the caller), never the run."""
    result: dict[str, object] = {"side": side, "workspace": str(src), "scenarios": list(scenarios)}
    if "fresh" in scenarios:
        result["fresh"] = fresh(side, src, base, buildkit, kache)
    if "matrix" in scenarios or "alternate" in scenarios:
        try:
            result.update(
                matrix_and_alternate(
                    side, src, base, buildkit, commands, worktrees, scenarios, rounds, floors, kache
                )
            )
        finally:
            trees = [base / side / name for name in WORKTREES[:worktrees]]
            if trees[0].is_dir():
                stop_cache_daemons(side, base, side_env(side, trees[0], base, kache))
    return result


def matrix_and_alternate(
    side: str,
    src: Path,
    base: Path,
    buildkit: str,
    commands: list[list[str]],
    worktrees: int,
    scenarios: tuple[str, ...],
    rounds: int,
    floors: dict[str, int] | None,
    kache: str | None,
) -> dict[str, object]:
    trees = prepare(src, base, side, buildkit, worktrees)
    roots = build_roots(side, trees, base)
    via_cq = side not in PLAIN_SIDES
    # The floor of this side's workspace (the sides after buildkit share one): counted before
    # anything builds, from the unit graph of the matrix (of `cargo test` when only the
    # alternate scenario runs).
    floors = {} if floors is None else floors
    key = workspace_key(trees[0])
    if key not in floors:
        floor_env = side_env(side, trees[0], base, kache)
        floor_env.pop("CARGO_BUILD_BUILD_DIR", None)
        floors[key] = rlib_floor(
            trees[0], commands if "matrix" in scenarios else [["test"]], env=floor_env
        )
    floor = floors[key]
    runs = []
    incr_by_kind = {"oneshot": 0, "other": 0}
    for tree in trees:
        env = side_env(side, tree, base, kache)
        for cmd in commands if "matrix" in scenarios else []:
            oneshot = cmd[0] in ONESHOT
            before = incremental_dirs(roots)
            run = run_command(cmd, tree, env, via_cq=via_cq, base=base)
            new = len(incremental_dirs(roots) - before)
            incr_by_kind["oneshot" if oneshot else "other"] += new
            run["new_incremental_dirs"] = new
            runs.append(run)
            print(
                f"[{side}] {tree.name}: {run['cmd']}: {run['cpu_s']} s CPU, {run['wall_s']} s wall",
                file=sys.stderr,
                flush=True,
            )
    # Only the alternate scenario: it runs on fresh worktrees (cold) and the counts follow it;
    # after the matrix it runs on the worktrees the matrix left (warm), after the counts.
    alt = None
    if "alternate" in scenarios and "matrix" not in scenarios:
        alt = alternate(side, trees, base, rounds, member_sources(trees[0]), kache)
    per_tree = {}
    crates = sorted(set().union(*(compiled_crates(r) for r in roots)) | set(SHARED_DEPS))
    for root in roots:
        name = root.parent.name if root.name == "target" else root.name
        rlib_files = find_count(root, "-name", "*.rlib")
        per_tree[name] = {
            "rlib": len(rlib_files),
            # kept so that a count can be re-read (deps/ copies, uplifted ones) from the results
            "rlib_files": sorted(str(Path(f).relative_to(root)) for f in rlib_files),
            "incremental_dirs": len(incremental_dirs([root])),
            "bytes": du_bytes(root),
            "copies": copies(root, crates),
        }
    rlib = sum(t["rlib"] for t in per_tree.values())
    # target dirs plus the compiler cache's store, a hard-linked file counted once (one du)
    cache = cache_dir(base, side)
    disk = du_total([*roots, *([cache] if cache.is_dir() else [])])
    unique_rlibs = unique_compiled_rlibs(roots)
    if "alternate" in scenarios and alt is None:
        alt = alternate(side, trees, base, rounds, member_sources(trees[0]), kache)
    if alt is not None:
        alt["warm"] = "matrix" in scenarios
    return {
        "rlib_floor": floor,
        "rlib_per_floor": round(rlib / floor, 2) if floor else None,
        "alternate": alt,
        "matrix": ["cargo " + " ".join(c) for c in commands],
        "commands_per_worktree": len(runs) // len(trees),
        "build_roots": [str(r) for r in roots],
        "runs": runs,
        "rlib": rlib,
        "compiled_rlib_unique": unique_rlibs,
        "incremental_dirs": sum(t["incremental_dirs"] for t in per_tree.values()),
        "incremental_dirs_from_oneshot": incr_by_kind["oneshot"],
        "incremental_dirs_from_build": incr_by_kind["other"],
        "bytes": sum(t["bytes"] for t in per_tree.values()),
        "disk_bytes": disk,
        "cache_bytes": du_bytes(cache) if cache.is_dir() else 0,
        "cpu_s": round(sum(float(r["cpu_s"]) for r in runs), 1),
        "wall_s": round(sum(float(r["wall_s"]) for r in runs), 1),
        "copies_max_per_worktree": {
            dep: {
                k: max(t["copies"][dep][k] for t in per_tree.values())
                for k in ("rlib", "any", "versions")
            }
            for dep in crates
        },
        "worktrees": per_tree,
    }


SCENARIOS = {
    "matrix": ("matrix",),
    "alternate": ("alternate",),
    "fresh": ("fresh",),
    "both": ("matrix", "alternate"),
    "all": ("fresh", "matrix", "alternate"),
}
# Issue 21's goals for buildkit's default side, as ratios to plain cargo (`before`) in one run.
GOAL_RLIB_PER_FLOOR = 1.3
GOAL_MATRIX_CPU = 0.45
GOAL_MATRIX_DISK = 0.35
GOAL_ALTERNATE = 1.0
GOAL_FRESH = 0.3


def ratio(before: float, after: float) -> str:
    return f"{after / before:.2f}" if before else "n/a"


def compiled_rlibs(side: dict[str, object]) -> int | None:
    """`.rlib` files cargo compiled (those in `<profile>/deps/`): the count the floor bounds. The
    rest are a worktree's own crates uplifted to `target/<profile>/` (hard links or copies of
    a compiled one)."""
    trees = side.get("worktrees") or {}
    if not all("rlib_files" in t for t in trees.values()):  # type: ignore[union-attr]
        return None
    return sum(
        sum("/deps/" in f"/{f}" for f in t["rlib_files"])  # type: ignore[index]
        for t in trees.values()  # type: ignore[union-attr]
    )


def clippy_cpu(side: dict[str, object]) -> float:
    """CPU seconds of the matrix's `cargo clippy` runs: cq does not share clippy's build."""
    runs = side.get("runs") or []
    return round(sum(float(r["cpu_s"]) for r in runs if r["cmd"] == "cargo clippy"), 1)  # type: ignore[union-attr, index]


def verdict(got: float, goal: float) -> str:
    return "met" if got <= goal else f"missed by {got / goal:.2f}x"


def goals(sides: dict[str, dict[str, object]]) -> list[str]:
    """Issue 21's goals for buildkit's default side (`after`), as ratios to plain cargo
    (`before`) measured in the same run; by how much each is missed when it is."""
    lines = []
    after, before = sides.get("after"), sides.get("before")
    if not after or after.get("failed"):
        return lines
    if before and not before.get("failed"):
        alt_a, alt_b = after.get("alternate") or {}, before.get("alternate") or {}
        for what in ("cpu_s", "wall_s"):
            if alt_a.get(what) and alt_b.get(what):  # type: ignore[union-attr]
                got = float(alt_a[what]) / float(alt_b[what])  # type: ignore[index]
                lines.append(
                    f"- alternate: after / before {what[:-2].upper()}: {alt_a[what]} / "  # type: ignore[index]
                    f"{alt_b[what]} = {got:.2f} (goal <= {GOAL_ALTERNATE}: "  # type: ignore[index]
                    f"{verdict(got, GOAL_ALTERNATE)})"
                )
        if "cpu_s" in after and "cpu_s" in before and "matrix" in after.get("scenarios", []):
            got = float(after["cpu_s"]) / float(before["cpu_s"])  # type: ignore[arg-type]
            lines.append(
                f"- matrix: after / before CPU: {after['cpu_s']} / {before['cpu_s']} = "
                f"{got:.2f} (goal <= {GOAL_MATRIX_CPU}: {verdict(got, GOAL_MATRIX_CPU)})"
            )
            got = float(after["disk_bytes"]) / float(before["disk_bytes"])  # type: ignore[arg-type]
            lines.append(
                f"- matrix: after / before disk (target dirs + cache, du, hard links once): "
                f"{round(float(after['disk_bytes']) / 1e6)} / "  # type: ignore[arg-type]
                f"{round(float(before['disk_bytes']) / 1e6)} MB = {got:.2f} "  # type: ignore[arg-type]
                f"(goal <= {GOAL_MATRIX_DISK}: {verdict(got, GOAL_MATRIX_DISK)})"
            )
    if after.get("rlib_floor") and "compiled_rlib_unique" in after:
        got = float(after["compiled_rlib_unique"]) / float(after["rlib_floor"])  # type: ignore[arg-type]
        lines.append(
            f"- matrix: after compiled `.rlib` on disk (hard links once) / floor: "
            f"{after['compiled_rlib_unique']} / {after['rlib_floor']} = {got:.2f} "
            f"(goal <= {GOAL_RLIB_PER_FLOOR}: {verdict(got, GOAL_RLIB_PER_FLOOR)})"
        )
    fresh_run = after.get("fresh")
    if fresh_run:
        got = float(fresh_run["wall_ratio"])  # type: ignore[index]
        lines.append(
            f"- fresh: a new worktree's first `cargo test`, cache warm from a sibling / the cold "
            f"one: {fresh_run['new']['wall_s']} / {fresh_run['cold']['wall_s']} s wall = "  # type: ignore[index]
            f"{got:.2f} (goal <= {GOAL_FRESH}: {verdict(got, GOAL_FRESH)})"
        )
    return lines


def _measure(get: object, side: dict[str, object]) -> object:
    """One cell: the measure, or "-" where the side has none (it failed, or skipped a scenario)."""
    try:
        return get(side)  # type: ignore[operator]
    except (KeyError, TypeError, ZeroDivisionError):
        return "-"


def report(out: Path) -> None:
    """result.json with every side found in out/, and table.md: each side (or why it failed),
    its ratio to before, the `.rlib` floor, every scenario and the default side's goals."""
    sides = {
        s: json.loads((out / f"{s}.json").read_text())
        for s in SIDES
        if (out / f"{s}.json").is_file()
    }
    (out / "result.json").write_text(json.dumps({**sides, "goals": goals(sides)}, indent=2) + "\n")
    if not sides:
        return
    cols = [s for s in SIDES if s in sides]
    base = "before" if "before" in sides else None
    matrix_ran = all("matrix" in d.get("scenarios", ["matrix"]) for d in sides.values())
    measures: list[tuple[str, object]] = [
        ("side ran", lambda d: f"failed: {d['failed']}" if d.get("failed") else "ok"),
    ]
    if matrix_ran:
        measures += [
            ("`.rlib` files (all target dirs)", lambda d: d["rlib"]),
            (
                "`.rlib` floor (one copy per package, version, profile, kind; unit graph)",
                lambda d: d.get("rlib_floor", "-"),
            ),
            ("`.rlib` files / floor", lambda d: d.get("rlib_per_floor", "-")),
            (
                "compiled `.rlib` files (in `deps/`; the rest are uplifted)",
                lambda d: compiled_rlibs(d) if compiled_rlibs(d) is not None else "-",
            ),
            (
                "compiled `.rlib` files / floor",
                lambda d: (
                    round(compiled_rlibs(d) / d["rlib_floor"], 2)
                    if compiled_rlibs(d) is not None and d.get("rlib_floor")
                    else "-"
                ),
            ),
            ("incremental dirs, total", lambda d: d["incremental_dirs"]),
            (
                "incremental dirs made by one-shot commands",
                lambda d: d["incremental_dirs_from_oneshot"],
            ),
            (
                "compiled `.rlib` files on disk, hard links once",
                lambda d: d["compiled_rlib_unique"],
            ),
            ("target dirs, MB (`du -sb`)", lambda d: round(d["bytes"] / 1e6)),
            ("compiler cache's store, MB", lambda d: round(d["cache_bytes"] / 1e6)),
            (
                "target dirs + cache store, MB (one `du`, hard links once)",
                lambda d: round(d["disk_bytes"] / 1e6),
            ),
            (
                "CPU seconds (user+sys: wait4, plus the cache's server or daemon)",
                lambda d: d["cpu_s"],
            ),
            (
                "of which the cache's server or daemon",
                lambda d: round(sum(float(r.get("cache_daemon_cpu_s", 0)) for r in d["runs"]), 1),
            ),
            ("wall seconds", lambda d: d["wall_s"]),
            ("CPU seconds of `cargo clippy` alone", clippy_cpu),
        ]
    if any(d.get("alternate") for d in sides.values()):
        measures += [
            (
                "alternate worktrees (edit + `cargo test`): CPU seconds",
                lambda d: (d.get("alternate") or {}).get("cpu_s", "-"),
            ),
            (
                "alternate worktrees (edit + `cargo test`): wall seconds",
                lambda d: (d.get("alternate") or {}).get("wall_s", "-"),
            ),
        ]
    if any(d.get("fresh") for d in sides.values()):
        measures += [
            (
                "fresh: first `cargo test`, cold: wall seconds",
                lambda d: d["fresh"]["cold"]["wall_s"],
            ),
            (
                "fresh: a new worktree's first `cargo test`, cache warm: wall seconds",
                lambda d: d["fresh"]["new"]["wall_s"],
            ),
            ("fresh: new / cold, wall", lambda d: d["fresh"]["wall_ratio"]),
            ("fresh: new / cold, CPU", lambda d: d["fresh"]["cpu_ratio"]),
        ]
    if matrix_ran and base and not sides["before"].get("failed"):
        before_copies = sides["before"]["copies_max_per_worktree"]
        # The workspace's own crates (every member is in the matrix as `-p NAME`) are not
        # shared dependencies: their copies follow the matrix's feature choices.
        members = {
            c.split(" -p ")[1].split()[0].replace("-", "_")
            for c in sides["before"].get("matrix", [])
            if " -p " in c
        }
        extra = sorted(
            (
                d
                for d in before_copies
                if d not in SHARED_DEPS and d not in members and before_copies[d]["rlib"] > 1
            ),
            key=lambda d: (-before_copies[d]["rlib"], d),
        )[:MAX_EXTRA_DEPS]
        for dep in [*SHARED_DEPS, *extra]:
            if any(
                (sides[c].get("copies_max_per_worktree") or {}).get(dep, {}).get("any")
                for c in cols
            ):
                measures.append(
                    (
                        f"copies of {dep} (`.rlib`), most per version and target dir",
                        lambda d, dep=dep: d["copies_max_per_worktree"].get(dep, {}).get("rlib", 0),
                    )
                )
    others = [c for c in cols if c != base] if base else []
    head = "| measure | " + " | ".join(cols) + " |" + "".join(f" {c}/before |" for c in others)
    lines = [head, "| --- |" + " ---: |" * (len(cols) + len(others))]
    for name, get in measures:
        values = [_measure(get, sides[c]) for c in cols]
        row = f"| {name} | " + " | ".join(map(str, values)) + " |"
        if base:
            first = values[cols.index(base)]
            for c in others:
                v = values[cols.index(c)]
                numeric = all(isinstance(x, (int, float)) for x in (first, v))
                row += f" {ratio(float(first), float(v)) if numeric else '-'} |"
        lines.append(row)
    lines += ["", *goals(sides)]
    (out / "table.md").write_text("\n".join(lines).rstrip("\n") + "\n")
    print("\n".join(lines))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("workspace", nargs="?", type=Path, default=DEFAULT_WORKSPACE)
    parser.add_argument(
        "--out",
        type=Path,
        help="where the results go (default: a new temporary directory, printed at the end; "
        "bench/article/results holds the README's)",
    )
    parser.add_argument(
        "--buildkit", default=shutil.which("buildkit"), help="default: `buildkit` on PATH"
    )
    parser.add_argument(
        "--worktrees", type=int, default=len(WORKTREES), choices=range(1, len(WORKTREES) + 1)
    )
    parser.add_argument(
        "--max-commands", type=int, default=0, help="run only the first N commands of the matrix"
    )
    parser.add_argument(
        "--sides",
        default="before,after",
        help="comma-separated: before (plain cargo), after (buildkit's default: isolation and "
        "the compiler cache), after-oneshot (incremental off for test/check/clippy too), "
        "after-nocache (isolation alone), kache (plain cargo with kache, the peer), "
        "unsafe-shared (one CARGO_BUILD_BUILD_DIR for every worktree: it can run the wrong code)",
    )
    parser.add_argument(
        "--scenario",
        choices=sorted(SCENARIOS),
        default="matrix",
        help="matrix: the agent command matrix in each worktree; alternate: agents alternate "
        "worktrees (1, 2, 3, 1, ...), each editing a member then running `cargo test`; fresh: "
        "a new worktree's first `cargo test` with the cache warm, against a cold one; both "
        "(matrix, alternate); all",
    )
    parser.add_argument(
        "--rounds", type=int, default=2, help="rounds of the alternate scenario (default 2)"
    )
    parser.add_argument(
        "--kache",
        default=shutil.which("kache"),
        help="the kache binary for the kache side (default: `kache` on PATH)",
    )
    parser.add_argument("--report-only", action="store_true", help="rebuild the table from --out")
    parser.add_argument("--keep", action="store_true", help="keep the built worktrees")
    args = parser.parse_args()
    if args.report_only:
        if args.out is None:
            parser.error("--report-only needs --out DIR")
        report(args.out)
        return 0
    if not args.buildkit:
        parser.error("no `buildkit` on PATH; install it or pass --buildkit PATH")
    out = args.out or Path(tempfile.mkdtemp(prefix="buildkit-bench-results-"))
    out.mkdir(parents=True, exist_ok=True)
    source = args.workspace.resolve()
    commands = matrix(workspace_facts(source)["members"])  # type: ignore[arg-type]
    if args.max_commands:
        commands = commands[: args.max_commands]
    sides = args.sides.split(",")
    unknown = [s for s in sides if s not in SIDES]
    if unknown:
        parser.error(f"--sides: unknown {', '.join(unknown)}; choose from {', '.join(SIDES)}")
    base = Path(tempfile.mkdtemp(prefix="buildkit-bench-"))
    floors: dict[str, int] = {}
    try:
        for side in sides:
            try:
                result = run_side(
                    side,
                    source,
                    base,
                    args.buildkit,
                    commands,
                    args.worktrees,
                    scenarios=SCENARIOS[args.scenario],
                    rounds=args.rounds,
                    floors=floors,
                    kache=args.kache,
                )
            except (SideFailed, subprocess.CalledProcessError) as failure:
                # recorded, and the other sides go on (a workspace whose tests need a layout
                # a side breaks must not end the run)
                print(f"[{side}] failed: {failure}", file=sys.stderr, flush=True)
                result = {
                    "side": side,
                    "scenarios": list(SCENARIOS[args.scenario]),
                    "failed": str(failure),
                }
            (out / f"{side}.json").write_text(json.dumps(result, indent=2) + "\n")
            if not args.keep:
                shutil.rmtree(base / side, ignore_errors=True)
                shutil.rmtree(base / "fresh" / side, ignore_errors=True)
        report(out)
    finally:
        if not args.keep:
            shutil.rmtree(base, ignore_errors=True)
    print(f"results: {out}" + (f"\nworktrees kept in {base}" if args.keep else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
