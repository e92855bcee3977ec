"""A tiny workspace with no crates.io dependencies, built for real with several feature mixes.

``core-lib`` has features ``a`` and ``b``; ``app1`` wants ``a``, ``app2`` wants ``b``. Building
each app alone, then the whole workspace, then ``check`` and ``test --no-run`` compiles
core-lib several times (one copy per feature mix and mode) and, with incremental on, leaves
several incremental directories per crate.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

from conftest import build_file_tree, run_buildkit

APP = """fn main() {{ println!("{{}}", core_lib::value()); }}
#[test]
fn positive() {{ assert!(core_lib::value() > {n}); }}
"""

WORKSPACE = {
    "Cargo.toml": '[workspace]\nresolver = "2"\nmembers = ["core", "app1", "app2"]\n',
    "core/Cargo.toml": '[package]\nname = "core-lib"\nversion = "0.1.0"\nedition = "2021"\n'
    "[features]\na = []\nb = []\n",
    "core/src/lib.rs": "pub fn value() -> u32 {\n    let mut x = 1;\n"
    '    if cfg!(feature = "a") { x += 1 }\n    if cfg!(feature = "b") { x += 2 }\n    x\n}\n',
    ".gitignore": "/target\n",
}
for _name, _feature in (("app1", "a"), ("app2", "b")):
    WORKSPACE[f"{_name}/Cargo.toml"] = (
        f'[package]\nname = "{_name}"\nversion = "0.1.0"\nedition = "2021"\n'
        f'[dependencies]\ncore-lib = {{ path = "../core", features = ["{_feature}"] }}\n'
    )
    WORKSPACE[f"{_name}/src/main.rs"] = APP.format(n=0)

FEATURE_MIXES = (
    ["build", "-p", "app1"],
    ["build", "-p", "app2"],
    ["build"],
    ["check", "-p", "app1"],
    ["test", "--no-run"],
)


def cargo_env() -> dict[str, str]:
    """Incremental on, the default target dir, the shared registry cache."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("CARGO_TARGET_DIR", "CARGO_BUILD_", "CARGO_INCREMENTAL", "CQ_"))
    }
    env["CARGO_INCREMENTAL"] = "1"
    env["CARGO_TERM_COLOR"] = "never"
    return env


def cargo(root: Path, *args: str) -> None:
    subprocess.run(["cargo", *args, "--quiet"], cwd=root, env=cargo_env(), check=True)


def git(root: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(root), *args], capture_output=True, text=True, check=True
    ).stdout


def make_repo(root: Path) -> Path:
    build_file_tree(root, WORKSPACE)
    git(root, "init", "-q", "-b", "main")
    git(root, "-c", "user.name=t", "-c", "user.email=t@example.invalid", "add", "-A")
    git(root, "-c", "user.name=t", "-c", "user.email=t@example.invalid", "commit", "-qm", "ws")
    return root


def build_all(root: Path) -> None:
    for args in FEATURE_MIXES:
        cargo(root, *args)


def drop_units(root: Path, package: str) -> list[Path]:
    """Remove a package's compiled units (fingerprints, deps/ files), as gc over budget or the
    removal of an old toolchain's units does, and return the incremental dirs they leave."""
    debug = root / "target" / "debug"
    for path in [*debug.glob(f".fingerprint/{package}-*"), *debug.glob(f"deps/{package}-*")]:
        shutil.rmtree(path) if path.is_dir() else path.unlink()
    return sorted(debug.glob(f"incremental/{package.replace('-', '_')}-*"))


def du(path: Path) -> int:
    """Allocated bytes as GNU du counts them (hard links once)."""
    out = subprocess.run(
        ["du", "-s", "-B1", str(path)], capture_output=True, text=True, check=True
    ).stdout
    return int(out.split()[0])


def find(path: Path, *expr: str) -> list[str]:
    out = subprocess.run(
        ["find", str(path), *expr, "-print"], capture_output=True, text=True, check=True
    ).stdout
    return sorted(line for line in out.splitlines() if line)


def listing(path: Path) -> list[str]:
    """Every entry with its type, size and mtime: equal before and after means nothing changed."""
    out = subprocess.run(
        ["find", str(path), "-printf", "%p %y %s %T@\\n"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return sorted(out.splitlines())


def doctor_json(root: Path) -> dict[str, object]:
    ran = run_buildkit("doctor", root, "--json")
    assert ran.exit_code == 0, ran.stderr
    data: dict[str, object] = json.loads(ran.stdout)
    return data


def gc_json(root: Path, *args: str) -> dict[str, object]:
    ran = run_buildkit("gc", root, "--json", *args)
    assert ran.exit_code == 0, ran.stderr
    data: dict[str, object] = json.loads(ran.stdout)
    return data


def start_orphan(exe_dir: Path, name: str, cwd: Path, pids: list[int]) -> int:
    """Start a real process named ``name`` (a copy of sleep), detached: its parent exits at
    once, so it is re-parented to process 1, as a test binary is when its agent is killed."""
    exe_dir.mkdir(parents=True, exist_ok=True)
    exe = exe_dir / name
    sleep = shutil.which("sleep")
    assert sleep is not None
    shutil.copy2(sleep, exe)
    out = subprocess.run(
        ["sh", "-c", '"$0" 300 </dev/null >/dev/null 2>&1 & echo $!', str(exe)],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=True,
        start_new_session=True,
    ).stdout
    pid = int(out.strip())
    pids.append(pid)
    return pid
