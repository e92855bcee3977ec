"""ansible-lint (production profile, offline) and yamllint on the roles, the playbook and the
collection's metadata."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from conftest import REPO

BIN = Path(sys.executable).parent


def test_ansible_lint_production_profile_passes() -> None:
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    ran = subprocess.run(
        [str(BIN / "ansible-lint"), "--offline", "roles", "playbooks", "galaxy.yml", "meta"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert "Profile 'production' was required, and it passed" in ran.stdout + ran.stderr


def test_yamllint_passes() -> None:
    ran = subprocess.run(
        [
            str(BIN / "yamllint"),
            "--strict",
            "roles",
            "playbooks",
            "galaxy.yml",
            "meta",
            ".ansible-lint",
            ".yamllint",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    assert ran.returncode == 0, ran.stdout + ran.stderr
