"""From a checkout: the README's first command, then a plain (non-editable) install."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from conftest import REPO


@pytest.mark.slow
def test_demo_then_installed_buildkit_on_the_seedlike_fixture(
    tmp_path: Path, seedlike: Path
) -> None:
    venv = tmp_path / "venv"
    env = {**os.environ, "BUILDKIT_VENV": str(venv)}
    demo = subprocess.run(
        ["sh", str(REPO / "dev" / "demo.sh")], env=env, capture_output=True, text=True, check=False
    )
    assert demo.returncode == 0, demo.stdout + demo.stderr
    assert "==> buildkit check" in demo.stdout
    assert "ok: " in demo.stdout

    # The wheel carries its templates: run it from a folder far from the checkout.
    buildkit = venv / "bin" / "buildkit"
    installed = subprocess.run(
        [str(venv / "bin" / "python"), "-c", "import buildkit, sys; print(buildkit.__file__)"],
        capture_output=True,
        text=True,
        check=True,
        cwd=tmp_path,
    ).stdout
    assert str(REPO) not in installed, "a plain install, not an editable one"
    for command in (["init", "--yes"], ["check"]):
        ran = subprocess.run(
            [str(buildkit), *command, str(seedlike)],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            check=False,
        )
        assert ran.returncode == 0, ran.stdout + ran.stderr
    assert (seedlike / "buildkit.yaml").is_file()
    assert "app-server" in (seedlike / "buildkit.yaml").read_text()
