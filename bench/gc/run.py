"""A night of agents ages a target dir; `buildkit gc --max-size` and cargo-sweep clean copies.

    .venv/bin/python bench/gc/run.py --sweep PATH/TO/cargo-sweep [--nights 6]
        [--budget-share 0.3 0.45]

The night, all real cargo: a three-crate workspace whose library has two features, built in
sessions ("agents") with changing feature mixes, `check`/`build`/`test`/`--release`, source
edits (new incremental sessions), and every third session with the nightly toolchain (a second
toolchain; it counts as uninstalled through a `rustup` on PATH that lists stable only, for
both cleaners). After each session every file's times move one day back, so session k is
(nights - k) days old. The last session is the current branch: `cargo build` and
`cargo test --no-run` on stable.

Then each cleaner runs on its own `cp -a` copy of the aged tree: bytes freed (du before and
after) and the units the next `cargo build -v` and `cargo test --no-run -v` compile (their
`Compiling` lines). Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

VENV_BIN = Path(sys.executable).parent

WORKSPACE = {
    "Cargo.toml": '[workspace]\nresolver = "2"\nmembers = ["core", "app1", "app2"]\n',
    "core/Cargo.toml": '[package]\nname = "core-lib"\nversion = "0.1.0"\nedition = "2021"\n'
    "[features]\na = []\nb = []\n",
    "core/src/lib.rs": "pub fn value() -> u32 {\n    let mut x = 1;\n"
    '    if cfg!(feature = "a") { x += 1 }\n    if cfg!(feature = "b") { x += 2 }\n    x\n}\n',
}
for _name, _feature in (("app1", "a"), ("app2", "b")):
    WORKSPACE[f"{_name}/Cargo.toml"] = (
        f'[package]\nname = "{_name}"\nversion = "0.1.0"\nedition = "2021"\n'
        f'[dependencies]\ncore-lib = {{ path = "../core", features = ["{_feature}"] }}\n'
    )
    WORKSPACE[f"{_name}/src/main.rs"] = (
        'fn main() { println!("{}", core_lib::value()); }\n'
        "#[test]\nfn positive() { assert!(core_lib::value() > 0); }\n"
    )

SESSION = (
    ["build", "-p", "app1"],
    ["build", "-p", "app2"],
    ["check", "--features", "core-lib/a core-lib/b"],
    ["test", "--no-run"],
    ["build", "--release", "-p", "app1"],
    ["build"],
)
DAY = 86400


def sh(args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, check=True)


def du(path: Path) -> int:
    out = subprocess.run(["du", "-s", "-B1", str(path)], capture_output=True, text=True).stdout
    return int(out.split()[0])


def age_everything(root: Path, seconds: int) -> None:
    for path in [root, *root.rglob("*")]:
        st = path.lstat()
        os.utime(path, (st.st_atime - seconds, st.st_mtime - seconds), follow_symlinks=False)


def snapshot_times(root: Path) -> dict[Path, tuple[float, float]]:
    """Every entry's (atime, mtime), each read before its directory is listed (listing a
    directory moves its access time, which cargo-sweep may read)."""
    times = {Path(): (root.lstat().st_atime, root.lstat().st_mtime)}
    for path in root.rglob("*"):
        st = path.lstat()
        times[path.relative_to(root)] = (st.st_atime, st.st_mtime)
    return times


def restore_times(root: Path, times: dict[Path, tuple[float, float]]) -> None:
    # deepest first: setting a file's times never touches its directory's
    for rel in sorted(times, key=lambda p: len(p.parts), reverse=True):
        path = root / rel
        if path.exists() or path.is_symlink():
            os.utime(path, times[rel], follow_symlinks=False)


def night(root: Path, env: dict[str, str], nights: int) -> None:
    for session in range(nights):
        toolchain = ["+nightly"] if session % 3 == 1 else []
        for n, args in enumerate(SESSION):
            main = root / ("app1" if n % 2 else "app2") / "src" / "main.rs"
            main.write_text(main.read_text() + f"// session {session} step {n}\n")
            sh(["cargo", *toolchain, *args, "-q"], root, {**env, "CARGO_INCREMENTAL": "1"})
        age_everything(root / "target", DAY)
    for args in (["build"], ["test", "--no-run"]):  # the current branch, on stable
        sh(["cargo", *args, "-q"], root, env)


def recompiled(root: Path, env: dict[str, str]) -> int:
    count = 0
    for args in (["build", "-v"], ["test", "--no-run", "-v"]):
        ran = sh(["cargo", *args], root, env)
        count += sum(1 for line in ran.stderr.splitlines() if line.strip().startswith("Compiling"))
    return count


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sweep", required=True, help="the cargo-sweep binary")
    parser.add_argument("--nights", type=int, default=6)
    parser.add_argument("--budget-share", type=float, nargs="+", default=[0.3, 0.45])
    options = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-gc-"))
    try:
        stable = sh(["rustc", "+stable", "--print", "sysroot"], work, dict(os.environ))
        fake = work / "fakebin"
        fake.mkdir()
        (fake / "rustup").write_text(
            f'#!/bin/sh\ncase "$*" in\n  *list*) echo \'stable (default) '
            f'{stable.stdout.strip()}\' ;;\n  *) exec {shutil.which("rustup")} "$@" ;;\nesac\n'
        )
        (fake / "rustup").chmod(0o755)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("CARGO_TARGET", "CQ_"))}
        env["CARGO_TERM_COLOR"] = "never"
        aged = work / "aged"
        for rel, text in WORKSPACE.items():
            (aged / rel).parent.mkdir(parents=True, exist_ok=True)
            (aged / rel).write_text(text)
        started = time.monotonic()
        night(aged, env, options.nights)
        night_seconds = time.monotonic() - started
        times = snapshot_times(aged / "target")
        size = du(aged / "target")
        budgets = [int(size * share) for share in options.budget_share]
        clean_env = {**env, "PATH": f"{fake}{os.pathsep}{VENV_BIN}{os.pathsep}{env['PATH']}"}
        cleaners: dict[str, list[str]] = {
            "buildkit gc (defaults: --keep 1, --older-than 30d)": ["buildkit", "gc", "--no-queue"],
            "cargo sweep --time 1": [options.sweep, "sweep", "--time", "1"],
            "cargo sweep --installed": [options.sweep, "sweep", "--installed"],
        }
        for budget in budgets:
            cleaners[f"buildkit gc --max-size {budget / 2**20:.1f}M"] = [
                "buildkit",
                "gc",
                "--no-queue",
                "--max-size",
                str(budget),
            ]
            cleaners[f"cargo sweep --maxsize {budget // 1_000_000}MB"] = [
                options.sweep,
                "sweep",
                "--maxsize",
                f"{budget // 1_000_000}MB",
            ]
        rows = []
        for label, command in cleaners.items():
            copy = work / "copy"
            if copy.exists():
                shutil.rmtree(copy)
            subprocess.run(["cp", "-a", str(aged), str(copy)], check=True)
            restore_times(copy / "target", times)  # the aged times, exactly, for every cleaner
            before = size
            ran = subprocess.run(command, cwd=copy, env=clean_env, capture_output=True, text=True)
            after = du(copy / "target")
            note = "" if ran.returncode == 0 else f" (exit {ran.returncode}: {ran.stderr[-200:]})"
            rows.append((label + note, before - after, after, recompiled(copy, env)))
        fresh = work / "fresh"
        shutil.copytree(aged, fresh, ignore=shutil.ignore_patterns("target"))
        for args in (["build"], ["test", "--no-run"]):
            sh(["cargo", *args, "-q"], fresh, env)
        current = du(fresh / "target")
        print(
            f"aged target dir: {size / 2**20:.1f} MiB after {options.nights} sessions "
            f"({night_seconds:.0f} s); the current branch's build + test alone, fresh: "
            f"{current / 2**20:.1f} MiB; budgets "
            + ", ".join(f"{b / 2**20:.1f} MiB" for b in budgets)
            + "\n"
        )
        print("| cleaner | freed | left | units recompiled by the next build + test |")
        print("| --- | ---: | ---: | ---: |")
        for label, freed, left, units in rows:
            print(f"| {label} | {freed / 2**20:.1f} MiB | {left / 2**20:.1f} MiB | {units} |")
        return 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
