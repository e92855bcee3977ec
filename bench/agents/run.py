#!/usr/bin/env python3
"""Five coding agents at once on five worktrees, plus one long release test: plain cargo, cq
(one command at a time) and admission (a CPU budget at cargo's extension points), side by side.

    python3 bench/agents/run.py [--loops N] [--agents N] [--sides plain,cq,admission]
        [--out DIR] [--buildkit PATH]

Each agent is a loop of: edit a source file of logsift-core (every member depends on it), then
`cargo check`, then `cargo test`, timed as the agent sees them (waiting included). A sixth
worktree runs `cargo test --release` once, after an edit, at the same time. The worktrees are
copies of bench/workspaces/logsift, each its own git repository; their target dirs start from
one warm build (dependencies compiled), copied in before each side, so a side measures the
edit loop, not crates.io.

Sides:
- plain: no buildkit; `cargo check` / `cargo test`.
- cq: rendered by buildkit with admission off; `scripts/cq check` / `scripts/cq test` (a
  private queue state).
- admission: rendered by buildkit with admission on (the budget: the number of cores); plain
  `cargo check` / `cargo test`, a private budget folder.
The compiler cache is off on every side (`cache.engine: none`), so only scheduling differs.

Sampled every 0.2 s from the OS: runnable tasks (`procs_running` in /proc/stat: every process
of the machine, so other work on a shared machine counts too) and used memory (MemTotal -
MemAvailable, less what was used before the side started). Not a test and not run in CI.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
WORKSPACE = REPO / "bench" / "workspaces" / "logsift"
EDITED = "crates/logsift-core/src/lib.rs"
PROFILE = """version: 1
hakari:
  enabled: false
cache:
  engine: none
cargo:
  dependency_debug: null
ci:
  enabled: false
devcontainer:
  enabled: false
admission:
  enabled: {admission}
"""


def run(cmd: list[str], cwd: Path, env: dict[str, str]) -> None:
    done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"{' '.join(cmd)} in {cwd} failed:\n{done.stdout}\n{done.stderr}")


def cores() -> int:
    return len(os.sched_getaffinity(0))


RUNNABLE_BY_NAME: dict[str, int] = {}  # which programs the runnable samples were (per side)


def own_runnable() -> int:
    """Runnable threads of this benchmark's own processes (its descendants): on a shared
    machine, procs_running counts everyone's."""
    me = os.getpid()
    parent: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parent[int(entry.name)] = int(stat[stat.rindex(")") + 2 :].split()[1])
    count = 0
    for pid in parent:
        p, depth = pid, 0
        while p in parent and p != me and depth < 64:
            p, depth = parent[p], depth + 1
        if p != me or pid == me:
            continue
        try:
            tasks = list(Path(f"/proc/{pid}/task").iterdir())
        except OSError:
            continue
        for task in tasks:
            try:
                stat = (task / "stat").read_text()
            except OSError:
                continue
            if stat[stat.rindex(")") + 2] == "R":
                count += 1
                name = stat[stat.index("(") + 1 : stat.rindex(")")]
                RUNNABLE_BY_NAME[name] = RUNNABLE_BY_NAME.get(name, 0) + 1
    return count


class Sampler(threading.Thread):
    """procs_running and used memory, every 0.2 s, until stopped."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.running: list[int] = []
        self.own: list[int] = []
        self.used: list[int] = []
        self.stop = threading.Event()
        self.baseline = self.used_kib()

    @staticmethod
    def used_kib() -> int:
        info = dict(line.split(":", 1) for line in Path("/proc/meminfo").read_text().splitlines())
        return int(info["MemTotal"].split()[0]) - int(info["MemAvailable"].split()[0])

    def run(self) -> None:
        while not self.stop.is_set():
            for line in Path("/proc/stat").read_text().splitlines():
                if line.startswith("procs_running "):
                    # less this sampler itself, which is running while it reads
                    self.running.append(max(0, int(line.split()[1]) - 1))
            self.own.append(own_runnable())
            self.used.append(self.used_kib() - self.baseline)
            self.stop.wait(0.2)


def prepare(root: Path, agents: int, env: dict[str, str]) -> tuple[list[Path], Path]:
    """The worktrees, and one warm target dir (dependencies built, debug and release)."""
    trees = [root / f"wt{i}" for i in range(agents + 1)]
    warm = root / "warm"
    for tree in trees:
        if tree.is_dir():
            continue  # prepared by an earlier run (--root)
        shutil.copytree(WORKSPACE, tree)
        run(["git", "init", "-q"], tree, env)
        run(["git", "add", "-A"], tree, env)
        run(["git", "-c", "user.name=b", "-c", "user.email=b@b", "commit", "-qm", "x"], tree, env)
    if (warm / "target").is_dir():
        return trees, warm / "target"
    shutil.copytree(WORKSPACE, warm, dirs_exist_ok=True)
    for cmd in (
        ["cargo", "test", "--no-run", "-q"],
        ["cargo", "check", "-q", "--all-targets"],
        ["cargo", "test", "--release", "--no-run", "-q"],
    ):
        run(cmd, warm, env)
    return trees, warm / "target"


def configure(side: str, trees: list[Path], buildkit: str, env: dict[str, str]) -> None:
    for tree in trees:
        for leftover in (".cargo", ".config", "scripts", "buildkit.yaml"):
            path = tree / leftover
            if path.is_dir():
                shutil.rmtree(path)
            elif path.exists():
                path.unlink()
        if side == "plain":
            continue
        admission = "true" if side == "admission" else "false"
        (tree / "buildkit.yaml").write_text(PROFILE.format(admission=admission))
        run([buildkit, "render", "."], tree, env)
    if side == "admission" and trees:
        # the slot holder is built once per machine, by its first compile: before the clock
        # starts, so that the run measures the steady state
        run(
            [str(trees[0] / ".config/buildkit/bin/rustc-wrapper"), "--buildkit-holder"],
            trees[0],
            env,
        )


def edit(tree: Path, n: int) -> None:
    path = tree / EDITED
    path.write_text(path.read_text() + f"\npub const BENCH_EDIT_{n}: u32 = {n};\n")


def agent(tree: Path, loops: int, prefix: list[str], env: dict[str, str], out: dict) -> None:
    checks, tests = [], []
    for n in range(loops):
        edit(tree, n)
        for name, sink in (("check", checks), ("test", tests)):
            started = time.monotonic()
            done = subprocess.run(
                [*prefix, name, "-q"], cwd=tree, env=env, capture_output=True, text=True
            )
            sink.append(time.monotonic() - started)
            if done.returncode != 0:
                out["error"] = f"{name} in {tree.name}: {done.stderr[-2000:]}"
    out["check"], out["test"] = checks, tests


def release(tree: Path, prefix: list[str], env: dict[str, str], out: dict) -> None:
    edit(tree, 0)
    started = time.monotonic()
    done = subprocess.run(
        [*prefix, "test", "--release", "-q"], cwd=tree, env=env, capture_output=True, text=True
    )
    out["release_test"] = time.monotonic() - started
    if done.returncode != 0:
        out["error"] = f"release test: {done.stderr[-2000:]}"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def side_run(side: str, trees: list[Path], warm: Path, loops: int, env: dict[str, str]) -> dict:
    for tree in trees:
        subprocess.run(["git", "checkout", "-q", "--", "."], cwd=tree, check=True)
        if (tree / "target").exists():
            shutil.rmtree(tree / "target")
        shutil.copytree(warm, tree / "target", symlinks=True)
    prefix = ["scripts/cq"] if side == "cq" else ["cargo"]
    results: list[dict] = [{} for _ in trees]
    threads = [
        threading.Thread(target=agent, args=(tree, loops, prefix, env, results[i]))
        for i, tree in enumerate(trees[:-1])
    ]
    threads.append(threading.Thread(target=release, args=(trees[-1], prefix, env, results[-1])))
    RUNNABLE_BY_NAME.clear()
    sampler = Sampler()
    sampler.start()
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    makespan = time.monotonic() - started
    sampler.stop.set()
    sampler.join()
    errors = [r["error"] for r in results if "error" in r]
    checks = [t for r in results for t in r.get("check", [])]
    tests = [t for r in results for t in r.get("test", [])]
    return {
        "side": side,
        "cores": cores(),
        "peak_runnable": max(sampler.running),
        "mean_runnable": round(statistics.fmean(sampler.running), 2),
        "peak_own_runnable": max(sampler.own),
        "mean_own_runnable": round(statistics.fmean(sampler.own), 2),
        "peak_memory_mib": round(max(sampler.used) / 1024),
        "check_p50_s": round(percentile(checks, 0.5), 2),
        "check_p95_s": round(percentile(checks, 0.95), 2),
        "test_p50_s": round(percentile(tests, 0.5), 2),
        "release_test_s": round(results[-1].get("release_test", 0.0), 2),
        "makespan_s": round(makespan, 2),
        "errors": errors,
        "runnable_samples_by_name": dict(
            sorted(RUNNABLE_BY_NAME.items(), key=lambda kv: -kv[1])[:12]
        ),
    }


def table(rows: list[dict]) -> str:
    head = (
        "| side | peak runnable, machine (cores) | mean | peak runnable, bench | mean "
        "| peak memory | check p50 | check p95 | test p50 | release test | makespan |\n"
        "|---|---|---|---|---|---|---|---|---|---|---|\n"
    )
    body = "".join(
        f"| {r['side']} | {r['peak_runnable']} ({r['cores']}) | {r['mean_runnable']} "
        f"| {r['peak_own_runnable']} | {r['mean_own_runnable']} "
        f"| {r['peak_memory_mib']} MiB | {r['check_p50_s']} s | {r['check_p95_s']} s "
        f"| {r['test_p50_s']} s | {r['release_test_s']} s | {r['makespan_s']} s |\n"
        for r in rows
    )
    return head + body


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--loops", type=int, default=2)
    parser.add_argument("--agents", type=int, default=5)
    parser.add_argument("--sides", default="plain,cq,admission")
    parser.add_argument("--out", type=Path)
    beside = Path(sys.executable).parent / "buildkit"  # the venv's, when run with its python
    found = shutil.which("buildkit") or (str(beside) if beside.exists() else "buildkit")
    parser.add_argument("--buildkit", default=found)
    parser.add_argument("--root", type=Path, help="reuse the worktrees and warm build here")
    args = parser.parse_args()
    root = args.root or Path(tempfile.mkdtemp(prefix="bk-agents-"))
    root.mkdir(parents=True, exist_ok=True)
    out = args.out or root
    out.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CQ_", "CARGO_TARGET"))}
    for private in ("cq-state", "admission"):
        (root / private).mkdir(mode=0o700, exist_ok=True)
    env.update(
        CQ_STATE_DIR=str(root / "cq-state"),
        BUILDKIT_ADMISSION_DIR=str(root / "admission"),
        CARGO_TERM_COLOR="never",
    )
    trees, warm = prepare(root, args.agents, env)
    rows = []
    for side in args.sides.split(","):
        configure(side, trees, args.buildkit, env)
        row = side_run(side, trees, warm, args.loops, env)
        rows.append(row)
        (out / f"{side}.json").write_text(json.dumps(row, indent=2))
        print(json.dumps(row), flush=True)
    (out / "table.md").write_text(table(rows))
    print(table(rows))
    print(f"results in {out}; worktrees in {root}")


if __name__ == "__main__":
    main()
