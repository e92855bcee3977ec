"""The pre-commit hook (.pre-commit-hooks.yaml), run by the real pre-commit from this checkout."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO, run_buildkit

pytestmark = pytest.mark.slow


def _pre_commit(repo: Path, home: Path) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("pre-commit", path=str(Path(sys.executable).parent))
    assert exe, "pre-commit is in the dev extra; run dev/test.sh"
    env = {**os.environ, "PRE_COMMIT_HOME": str(home)}
    return subprocess.run(
        [exe, "try-repo", str(REPO), "buildkit-check", "--all-files"],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=900,
    )


def test_hook_passes_on_a_rendered_repo_and_fails_on_drift(example: Path, tmp_path: Path) -> None:
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@localhost"]
    subprocess.run([*git, "init", "-q"], cwd=example, check=True)
    assert run_buildkit("init", "--yes", example).exit_code == 0
    subprocess.run([*git, "add", "-A"], cwd=example, check=True)
    subprocess.run([*git, "commit", "-qm", "init"], cwd=example, check=True)
    home = tmp_path / "pre-commit-home"

    clean = _pre_commit(example, home)
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert "buildkit check" in clean.stdout and "Passed" in clean.stdout

    env_file = example / ".config/buildkit.env"
    env_file.write_text(env_file.read_text() + "export MINE=1\n")
    drift = _pre_commit(example, home)
    assert drift.returncode == 1, drift.stdout + drift.stderr
    assert "Failed" in drift.stdout
    assert "drift: .config/buildkit.env" in drift.stdout
