"""The issue's new-user check on a workspace with crates.io dependencies: after `buildkit init`
(hakari on) and cq's `check`, `build` and `test`, doctor reports no registry crate as
duplicated; before init, the members' feature split is reported with its cause."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from conftest import run_buildkit
from cq.cq_helpers import cq_env
from doctor.doctor_helpers import doctor_json, git


def _registry_duplicates(data: dict[str, Any]) -> list[dict[str, Any]]:
    return [d for t in data["target_dirs"] for d in t["duplicates"] if d["version"] is not None]


@pytest.mark.slow
def test_no_registry_duplicates_after_init(seedlike: Path, tmp_path: Path) -> None:
    git(seedlike, "init", "-q", "-b", "main")
    env = cq_env(tmp_path / "state")
    # before: each member checked alone pulls shared crates with its own features
    for member in ("app-core", "app-search", "app-db"):
        subprocess.run(["cargo", "check", "-q", "-p", member], cwd=seedlike, env=env, check=True)
    before = _registry_duplicates(doctor_json(seedlike))
    assert any(d["crate"] == "hashbrown" and "feature mix" in d["causes"] for d in before)

    subprocess.run(["rm", "-rf", str(seedlike / "target")], check=True)
    ran = run_buildkit("init", "--yes", seedlike)
    assert ran.exit_code == 0, ran.stderr
    cq = seedlike / "scripts" / "cq"
    for args in (["check"], ["build"], ["test", "--no-run"]):
        subprocess.run(["sh", str(cq), *args, "-q"], cwd=seedlike, env=env, check=True)
    data = doctor_json(seedlike)
    assert _registry_duplicates(data) == []
    # what remains are the workspace crates' two copies from cq's incremental policy
    for t in data["target_dirs"]:
        for dup in t["duplicates"]:
            assert dup["causes"] == [
                "incremental on/off (cq's incremental policy) or profile settings"
            ], dup
