"""The physical floor of the article's `.rlib` count: one compiled copy of each (package,
version, profile, target kind) that a command matrix needs, read from cargo's unit graph.

Cargo hashes a unit by its profile's settings, not its name, so `dev` and `test` (which
inherits `dev`) share one copy; features are left out on purpose: feature unification
(cargo-hakari) exists to reach this floor. Only commands that link (build, test, run, bench)
produce `.rlib` files; check, clippy and doc produce `.rmeta` and are skipped.

    python3 bench/article/floor.py WORKSPACE -- build -p app-server --features codegen -- test
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

LINKING = {"build", "b", "test", "t", "run", "r", "bench"}
# Profiles that share their settings (and so their compiled units) with another.
PROFILE_DIRS = {"dev": "debug", "test": "debug", "release": "release", "bench": "release"}

Unit = tuple[str, str, str, str]  # package, version, profile dir, target kind


def units_of(workspace: Path, command: list[str], env: dict[str, str] | None = None) -> set[Unit]:
    """The `.rlib`-producing units one cargo command builds (empty for non-linking commands),
    with env (default: this process's environment) as cargo's environment."""
    if not command or command[0] not in LINKING:
        return set()
    env = {
        **(os.environ if env is None else env),
        "RUSTC_BOOTSTRAP": "1",
    }  # --unit-graph is unstable; it builds nothing
    out = subprocess.run(
        ["cargo", *command, "--unit-graph", "-Z", "unstable-options"],
        cwd=workspace,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    found: set[Unit] = set()
    for unit in json.loads(out)["units"]:
        if unit["mode"] != "build" or not {"lib", "rlib"} & set(unit["target"]["crate_types"]):
            continue
        package, _, version = unit["pkg_id"].rpartition("#")
        name = package.rstrip("/").rsplit("/", 1)[-1]
        if "@" in version:  # pkg_id form registry+URL#name@version
            name, _, version = version.partition("@")
        profile = unit["profile"]["name"]
        kind = ",".join(unit["target"]["kind"])
        found.add((name, version, PROFILE_DIRS.get(profile, profile), kind))
    return found


def rlib_floor(
    workspace: Path, commands: list[list[str]], env: dict[str, str] | None = None
) -> int:
    """How many `.rlib` files the whole matrix needs at the least, in one shared build-dir."""
    needed: set[Unit] = set()
    for command in commands:
        needed |= units_of(workspace, command, env)
    return len(needed)


def main(argv: list[str]) -> int:
    if len(argv) < 3 or argv[1] != "--":
        print(__doc__.strip().splitlines()[-1].strip(), file=sys.stderr)
        return 2
    commands: list[list[str]] = [[]]
    for word in argv[2:]:
        if word == "--":
            commands.append([])
        else:
            commands[-1].append(word)
    print(rlib_floor(Path(argv[0]), [c for c in commands if c]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
