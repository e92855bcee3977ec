#!/usr/bin/env python3
"""The edit-test loop, paired turn by turn: plain cargo and buildkit alternate on every turn.

    python3 bench/article/paired_loop.py BASE [--reps N] [--out FILE]

BASE is a folder run.py kept (`--keep`) with the sides `before` and `after`, for example
`run.py bench/workspaces/seedlike --sides before,after --scenario alternate --rounds 1 --keep`.
Each turn edits one member source of BASE/<side>/wt1 and runs `cargo test` (plain cargo) or
`scripts/cq test` (buildkit), the two sides back to back in alternating order, so the machine's
drift, which moves run.py's sequential sides by 10-20%, touches both alike. Per member source
it prints the medians of CPU (user+sys of the whole process tree, wait4) and wall, and the
ratio of the sums of the medians.
"""

from __future__ import annotations

import argparse
import json
import re
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import run  # bench/article/run.py, next to this script

SIDES = {"before": ["cargo", "test", "-q"], "after": ["scripts/cq", "test", "-q"]}


def turn(base: Path, side: str, source: str, step: int) -> tuple[float, float]:
    """One edit and test in BASE/<side>/wt1: (CPU seconds, wall seconds)."""
    tree = base / side / "wt1"
    env = run.side_env(side, tree, base)
    run.edit(tree, tree / source, step)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.monotonic()
    subprocess.run(
        SIDES[side],
        cwd=tree,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        check=True,
    )
    wall = time.monotonic() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    return cpu, wall


def first_free_step(trees: list[Path], sources: list[str]) -> int:
    """The first edit number no earlier run on these worktrees used (a second run on the same
    kept worktrees would otherwise add a constant that is already there, and fail to compile)."""
    used = [
        int(n)
        for tree in trees
        for source in sources
        for n in re.findall(r"\bBENCH_EDIT_(\d+)\b", (tree / source).read_text())
    ]
    return max([999, *used]) + 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("base", type=Path, help="a folder run.py kept, with before/ and after/")
    parser.add_argument("--reps", type=int, default=7, help="turns per member source (default 7)")
    parser.add_argument("--out", type=Path, help="also write the medians here as JSON")
    args = parser.parse_args()
    trees = [args.base / side / "wt1" for side in SIDES]
    missing = [str(t) for t in trees if not t.is_dir()]
    if missing:
        parser.error(f"no worktree at {', '.join(missing)}: run run.py with --keep first")
    sources = [str(s) for s in run.member_sources(trees[0])]
    runs: dict[str, dict[str, list[tuple[float, float]]]] = {
        side: {s: [] for s in sources} for side in SIDES
    }
    step = first_free_step(trees, sources)
    for rep in range(args.reps):
        for index, source in enumerate(sources):
            order = list(SIDES) if (rep + index) % 2 == 0 else list(reversed(SIDES))
            for side in order:
                runs[side][source].append(turn(args.base, side, source, step))
                step += 1
        print(f"rep {rep + 1}/{args.reps} done", file=sys.stderr, flush=True)
    medians = {
        side: {
            s: {
                "cpu_s": statistics.median(c for c, _ in runs[side][s]),
                "wall_s": statistics.median(w for _, w in runs[side][s]),
            }
            for s in sources
        }
        for side in SIDES
    }
    for s in sources:
        b, a = medians["before"][s], medians["after"][s]
        print(
            f"{s}: CPU {b['cpu_s']:.3f} / {a['cpu_s']:.3f} s ({a['cpu_s'] / b['cpu_s']:.3f}x), "
            f"wall {b['wall_s']:.3f} / {a['wall_s']:.3f} s ({a['wall_s'] / b['wall_s']:.3f}x)"
        )
    totals = {
        side: {k: sum(m[k] for m in medians[side].values()) for k in ("cpu_s", "wall_s")}
        for side in SIDES
    }
    ratios = {k: totals["after"][k] / totals["before"][k] for k in ("cpu_s", "wall_s")}
    print(
        f"sum of the medians, after / before: CPU {ratios['cpu_s']:.3f}x, "
        f"wall {ratios['wall_s']:.3f}x ({args.reps} turns per source, {len(sources)} sources)"
    )
    if args.out:
        summary = {"reps": args.reps, "medians": medians, "totals": totals, "ratios": ratios}
        args.out.write_text(json.dumps(summary, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
