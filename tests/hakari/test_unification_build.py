"""Real builds: three members built one by one compile hashbrown once each feature mix before
buildkit, and exactly once after `buildkit init` set up the workspace-hack crate."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from conftest import run_buildkit

# Each of these pulls hashbrown with another feature set; none depends on another but app-core.
MEMBERS = ("app-core", "app-search", "app-db")


def hashbrown_copies(target: Path) -> dict[str, set[str]]:
    """Distinct compiled copies of hashbrown per version: `cargo check` writes one `.rmeta` per
    copy, and its `.d` file names the source (`…/hashbrown-0.15.5/src/lib.rs`)."""
    deps = target / "debug" / "deps"
    copies: dict[str, set[str]] = {}
    for rmeta in deps.glob("libhashbrown-*.rmeta"):
        unit = rmeta.name.removeprefix("lib").removesuffix(".rmeta")
        first_line = (deps / f"{unit}.d").read_text().split("\n", 1)[0]
        version = re.search(r"/hashbrown-(\d+\.\d+\.\d+[^/]*)/", first_line)
        assert version, first_line
        copies.setdefault(version.group(1), set()).add(unit)
    return copies


def check_each(root: Path, target: Path) -> None:
    env = {**os.environ, "CARGO_TARGET_DIR": str(target), "CARGO_INCREMENTAL": "0"}
    for member in MEMBERS:
        subprocess.run(
            ["cargo", "check", "-q", "-p", member], cwd=root, env=env, check=True, timeout=900
        )


@pytest.mark.slow
def test_one_copy_of_hashbrown_after_init(seedlike: Path, tmp_path: Path) -> None:
    before = tmp_path / "target-before"
    check_each(seedlike, before)
    copies = hashbrown_copies(before)
    # The members ask for hashbrown 0.15 with three feature sets: three copies of one version.
    assert [len(units) for units in copies.values()] == [3], copies

    ran = run_buildkit("init", "--yes", seedlike)
    assert ran.exit_code == 0, ran.stderr
    after = tmp_path / "target-after"
    check_each(seedlike, after)
    copies = hashbrown_copies(after)
    # One copy per version: the unified 0.15, and the 0.17 indexmap needs once the hack turns on
    # serde_json's `preserve_order` (a dev-dependency feature of app-db) for every member.
    assert copies and all(len(units) == 1 for units in copies.values()), copies
    assert any(v.startswith("0.15.") for v in copies), copies
