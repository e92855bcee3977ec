"""cq's own overhead against plain cargo on no-op commands, measured side by side in one run.

    .venv/bin/python bench/cq-overhead/bench.py [--runs 21]

Builds a one-crate workspace in a private temporary directory, renders the real cq with
buildkit (default profile), builds once, then times interleaved runs of each pair:
`cargo metadata` vs `cq metadata` (pass-through: no queue), and a no-op `cargo build` vs
`cq build` (the full queue path: state checks, ticket, lock, watchdog, own session), the latter
also under dash with flock/setsid hidden from PATH (perl stands in, as on macOS).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests"))

from cq.cq_helpers import cq_env, macos_bin, make_repo, render_cq


def timed(argv: list[str], cwd: Path, env: dict[str, str]) -> float:
    began = time.perf_counter()
    subprocess.run(argv, cwd=cwd, env=env, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - began


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=21)
    runs = parser.parse_args().runs
    with tempfile.TemporaryDirectory(prefix="cq-bench-") as private:
        root = Path(private)
        (repo,) = make_repo(root / "ws")
        cq = render_cq(root / "cq")
        state = root / "state"
        state.mkdir(mode=0o700)
        env = cq_env(state, None)
        no_flock = cq_env(state, str(macos_bin(root / "macos-bin")))
        subprocess.run(["cargo", "build", "-q"], cwd=repo, env=env, check=True)
        meta = ["metadata", "--format-version", "1", "--no-deps", "--offline"]
        cases = {
            "cargo metadata": (["cargo", *meta], env),
            "cq metadata": (["sh", str(cq), *meta], env),
            "cargo build (no-op)": (["cargo", "build", "-q"], env),
            "cq build (no-op)": (["sh", str(cq), "build", "-q"], env),
            "cq build (no-op), perl for flock/setsid": (["dash", str(cq), "build", "-q"], no_flock),
        }
        times: dict[str, list[float]] = {name: [] for name in cases}
        for _ in range(runs):
            for name, (argv, case_env) in cases.items():
                times[name].append(timed(argv, repo, case_env))
    medians = {name: statistics.median(values) for name, values in times.items()}
    print(f"{runs} interleaved runs each, {os.cpu_count()} CPUs")
    print("| command | median | min | max | vs plain cargo |")
    print("| --- | --- | --- | --- | --- |")
    for name, values in times.items():
        base = "cargo metadata" if "metadata" in name else "cargo build (no-op)"
        extra = medians[name] - medians[base]
        ratio = (
            "" if name == base else f"+{extra * 1000:.0f} ms, {medians[name] / medians[base]:.2f}x"
        )
        print(
            f"| {name} | {medians[name] * 1000:.1f} ms | {min(values) * 1000:.1f} ms "
            f"| {max(values) * 1000:.1f} ms | {ratio} |"
        )


if __name__ == "__main__":
    main()
