"""Bad input: exit 2, one line on stderr naming what and where, no traceback, nothing written."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO, run_buildkit


def buildkit(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """The real console entry point in a subprocess, so exit codes and stderr are the user's."""
    full_env = {**os.environ, "PYTHONPATH": str(REPO / "src"), **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "buildkit", *args],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        check=False,
    )


def files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def assert_one_clear_line(result: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("buildkit: error: ")
    assert "Traceback" not in result.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]


def test_no_cargo_toml(tmp_path: Path) -> None:
    result = buildkit("init", cwd=tmp_path)
    assert_one_clear_line(result, "no Cargo.toml here")
    assert files(tmp_path) == {}


@pytest.mark.parametrize(
    ("profile", "needles"),
    [
        ("version: 1\ncargo: [\n", ("buildkit.yaml:3", "invalid YAML")),
        (
            "version: 1\ncargo:\n  jbos: 2\n",
            ("buildkit.yaml:3", "cargo.jbos", "did you mean 'jobs'"),
        ),
        (
            "version: 1\ncq:\n  grace_seconds: soon\n",
            ("buildkit.yaml:3", "cq.grace_seconds", "expected integer"),
        ),
        ("version: 7\n", ("buildkit.yaml:1", "unsupported profile version 7")),
        # YAML's own types, shown as YAML spells them, never as Python reprs
        (
            "version: 1\ncq:\n  path: !!binary aGVsbG8=\n",
            ("buildkit.yaml:3", "cq.path", "got binary data (!!binary) (5 bytes)"),
        ),
        (
            "version: 1\ncq:\n  path: 2024-01-01\n",
            ("buildkit.yaml:3", "cq.path", "got a date 2024-01-01"),
        ),
        (
            "version: 1\ncq:\n  null: 3\n",
            ("buildkit.yaml:3", "cq.null", "reads this key as null", 'quote it ("null")'),
        ),
    ],
    ids=[
        "malformed-yaml",
        "unknown-key",
        "wrong-type",
        "unsupported-version",
        "binary-value",
        "date-value",
        "null-key",
    ],
)
@pytest.mark.parametrize("command", ["init", "render", "check"])
def test_bad_profile(example: Path, profile: str, needles: tuple[str, ...], command: str) -> None:
    (example / "buildkit.yaml").write_text(profile)
    before = files(example)
    result = buildkit(command, cwd=example)
    assert_one_clear_line(result, *needles)
    assert not any(repr_ in result.stderr for repr_ in ("b'", "datetime.", "None"))
    assert files(example) == before


def test_cargo_missing_from_path(example: Path, tmp_path: Path) -> None:
    empty_bin = tmp_path / "bin"
    empty_bin.mkdir()
    python_dir = str(Path(sys.executable).parent)
    result = buildkit("init", cwd=example, env={"PATH": f"{empty_bin}:{python_dir}"})
    assert_one_clear_line(result, "cargo is not on PATH")
    assert not (example / "buildkit.yaml").exists()


def test_broken_manifest_reports_cargo_metadata(example: Path) -> None:
    (example / "Cargo.toml").write_text('[workspace]\nmembers = ["crates/missing"]\n')
    result = buildkit("init", cwd=example)
    assert_one_clear_line(result, "Cargo.toml", "cargo metadata")
    assert not (example / "buildkit.yaml").exists()


def test_render_without_profile(example: Path) -> None:
    result = buildkit("render", cwd=example)
    assert_one_clear_line(result, "buildkit.yaml", "run `buildkit init`")


def test_unterminated_block_in_envrc(example: Path) -> None:
    (example / ".envrc").write_text("use nix\n# >>> buildkit >>>\nPATH_add scripts\n")
    result = buildkit("init", cwd=example)
    assert_one_clear_line(result, ".envrc:2", "end marker")
    assert not (example / "buildkit.yaml").exists()


def test_debug_shows_the_traceback(tmp_path: Path) -> None:
    result = buildkit("--debug", "init", cwd=tmp_path)
    assert result.returncode != 0
    assert "Traceback" in result.stderr


def test_cargo_on_path_is_really_used(example: Path) -> None:
    assert shutil.which("cargo"), "the tests need a Rust toolchain"
    result = buildkit("init", cwd=example)
    assert result.returncode == 0, result.stderr


def test_a_broken_member_manifest_is_named_with_its_line(example: Path) -> None:
    member = example / "crates" / "greet" / "Cargo.toml"
    member.write_text(member.read_text().replace('name = "greet"', "name = 1"))
    line = next(
        n for n, text in enumerate(member.read_text().splitlines(), 1) if "name = 1" in text
    )
    result = buildkit("init", cwd=example)
    assert_one_clear_line(result, f"{member.resolve()}:{line}:", "cargo metadata")
    assert not (example / "buildkit.yaml").exists()


@pytest.mark.parametrize(
    ("raw", "needles"),
    [
        (b"version: 1\ncargo:\n  jobs: \x00\n", ("buildkit.yaml:3: character #x0000", "remove")),
        (b"version: 1\ncargo:\n  jobs: \xff\n", ("buildkit.yaml:3: not UTF-8",)),
        (b"a: &a [x, x]\nb: [*a, *a]\n", ("buildkit.yaml:2: aliases", "in full")),
        (b"version: 1\n? [a]\n: 1\n", ("buildkit.yaml:2:", "plain word")),
        (b"version: 1\ncargo: " + b"[" * 10_000, ("buildkit.yaml:2:", "nest")),
    ],
    ids=["nul", "not-utf8", "alias", "complex-key", "deep"],
)
def test_hostile_profile_bytes(example: Path, raw: bytes, needles: tuple[str, ...]) -> None:
    (example / "buildkit.yaml").write_bytes(raw)
    before = files(example)
    result = buildkit("check", cwd=example)
    assert_one_clear_line(result, *needles)
    assert files(example) == before


def test_a_removed_key_says_why_and_what_to_do(example: Path) -> None:
    # cq.shared_target_dir could run another worktree's code; a profile that still sets it is
    # told so in one line, with its line number, and nothing is written.
    (example / "buildkit.yaml").write_text("version: 1\ncq:\n  shared_target_dir: auto\n")
    ran = run_buildkit("render", example)
    assert ran.exit_code == 2
    (line,) = ran.stderr.strip().splitlines()
    assert "buildkit.yaml:3: cq.shared_target_dir: removed:" in line
    assert "cache" in line and "delete this line" in line
    assert not (example / "scripts").exists()
