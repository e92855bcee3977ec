"""Every command's --json output opens with the same envelope: its command and format."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from conftest import run_buildkit


@pytest.mark.parametrize(
    ("command", "args", "format_version"),
    [("check", [], 1), ("doctor", [], 2), ("gc", ["--dry-run"], 1), ("init", ["--no-clippy"], 1)],
)
def test_json_output_names_its_command_and_format(
    example: Path, command: str, args: list[str], format_version: int
) -> None:
    subprocess.run(["git", "init", "-q"], cwd=example, check=True)
    assert run_buildkit("init", example).exit_code == 0
    ran = run_buildkit(command, *args, "--json", example)
    assert ran.exit_code == 0, ran.stdout + ran.stderr
    report = json.loads(ran.stdout)
    assert list(report)[:2] == ["format", "command"]
    assert (report["format"], report["command"]) == (format_version, command)
