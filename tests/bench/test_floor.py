"""bench/article/floor.py: the `.rlib` floor counted from cargo's unit graph, checked against
the `.rlib` files real builds leave behind on the example workspace (path dependencies only,
no crates.io)."""

from __future__ import annotations

import importlib.util
import subprocess
from pathlib import Path
from types import ModuleType

from conftest import REPO


def load_floor() -> ModuleType:
    spec = importlib.util.spec_from_file_location("floor", REPO / "bench/article/floor.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def rlibs(target: Path) -> set[str]:
    return {p.name for p in target.rglob("*.rlib") if p.parent.name == "deps"}


def test_the_floor_is_what_one_shared_target_dir_holds(example: Path) -> None:
    floor = load_floor()
    matrix = [["build"], ["test"], ["check"], ["build", "--release"]]
    for command in matrix:
        subprocess.run(["cargo", *command], cwd=example, check=True, capture_output=True)
    built = rlibs(example / "target")
    # greet and tinyhash, in debug (build and test share the dev profile's units) and release
    assert floor.rlib_floor(example, matrix) == len(built) == 4
    assert floor.rlib_floor(example, [["check"], ["clippy"]]) == 0
    assert floor.rlib_floor(example, [["build"], ["test"]]) == 2
