"""Scan a synthetic Cargo target dir of 100k files with doctor's scanner; report medians.

    .venv/bin/python bench/doctor-scan/bench.py [--files 100000] [--runs 5]

Side by side in one run: `buildkit doctor`'s scan (scan_target: sizes, profiles, incremental
dirs, units, duplicate crates) and GNU `du -s -B1` over the same tree (warm cache for both).
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

from buildkit.diagnose.targets import TargetLocation, scan_target


def make_target(root: Path, files: int) -> int:
    """A target/ shaped like a real one: deps/ units (some hard-linked into the profile dir),
    .fingerprint/ dirs, and incremental session dirs full of object files."""
    made = 0
    debug = root / "debug"
    deps = debug / "deps"
    deps.mkdir(parents=True)
    payload = b"x" * 3000
    crate = 0
    while made < files:
        crate += 1
        name = f"crate{crate % 400}"
        unit = f"{crate:016x}"
        (deps / f"lib{name}-{unit}.rlib").write_bytes(payload)
        (deps / f"lib{name}-{unit}.rmeta").write_bytes(payload[:500])
        (deps / f"{name}-{unit}.d").write_text("deps\n")
        fp = debug / ".fingerprint" / f"{name}-{unit}"
        fp.mkdir(parents=True)
        for part in ("invoked.timestamp", f"dep-lib-{name}"):
            (fp / part).write_text("0")
        # Cargo's fingerprint record, as 1.95 writes it: one feature mix per copy of a crate
        (fp / f"lib-{name}").write_text(f"{crate:016x}")
        (fp / f"lib-{name}.json").write_text(
            f'{{"rustc":1,"features":"[\\"f{crate // 400}\\"]","declared_features":"[]",'
            f'"target":{crate % 400},"profile":2,"path":{crate % 400},"deps":[],'
            '"local":[],"rustflags":[],"config":3,"compile_kind":0}'
        )
        session = debug / "incremental" / f"{name}-{unit[-13:]}" / f"s-{unit}-x"
        session.mkdir(parents=True)
        for n in range(12):
            (session / f"{n}.o").write_bytes(payload[: 100 * n])
        if crate % 10 == 0:
            os.link(deps / f"lib{name}-{unit}.rlib", debug / f"lib{name}-{crate}.rlib")
            made += 1
        made += 3 + 4 + 12
    return made


def timed(fn: object, runs: int) -> list[float]:
    out = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()  # type: ignore[operator]
        out.append(time.perf_counter() - start)
    return out


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="doctor-scan-") as tmp:
        target = Path(tmp) / "target"
        start = time.perf_counter()
        made = make_target(target, args.files)
        print(
            f"built a synthetic target dir: {made} files in {time.perf_counter() - start:.1f} s",
            file=sys.stderr,
        )
        location = TargetLocation(target, [Path(tmp)], False, "bench")
        scan = scan_target(location)
        du = int(
            subprocess.run(
                ["du", "-s", "-B1", str(target)], capture_output=True, text=True, check=True
            ).stdout.split()[0]
        )
        assert scan.bytes == du, (scan.bytes, du)
        ours = timed(lambda: scan_target(location), args.runs)
        theirs = timed(
            lambda: subprocess.run(
                ["du", "-s", "-B1", str(target)], capture_output=True, check=True
            ),
            args.runs,
        )
        m_ours, m_du = statistics.median(ours), statistics.median(theirs)
        print(
            f"files: {scan.files}, bytes: {scan.bytes} (equal to du), "
            f"incremental dirs: {len(scan.incremental)}, rlibs: {scan.rlibs}, "
            f"crates with copies: {len(scan.duplicates())}"
        )
        print(
            f"doctor scan: median {m_ours:.3f} s over {args.runs} runs "
            f"(min {min(ours):.3f}, max {max(ours):.3f})"
        )
        print(f"du -s -B1:   median {m_du:.3f} s over {args.runs} runs")
        print(f"ratio doctor/du: {m_ours / m_du:.1f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
