"""Rendering admission: the wrapper and runner as committed scripts, shellcheck-clean for every
shell buildkit supports; the runner key set only where no runner of the user's would fight it
(cargo prefers a triple's runner and refuses two matching cfg runners)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from conftest import run_buildkit

CONFIG = ".cargo/config.toml"


def _profile(root: Path, admission: str = "") -> None:
    (root / "buildkit.yaml").write_text(
        "version: 1\nhakari:\n  enabled: false\ncache:\n  engine: none\n" + admission
    )


@pytest.mark.parametrize("dialect", ["sh", "dash", "bash"])
def test_wrapper_and_runner_are_shellcheck_clean(example: Path, dialect: str) -> None:
    _profile(example, "admission:\n  jobs: 3\n  compile_only_slots: 2\n")
    assert run_buildkit("render", example).exit_code == 0
    wrapper = example / ".config/buildkit/bin/rustc-wrapper"
    assert "bk_jobs=3\n" in wrapper.read_text() and "bk_compile_only=2\n" in wrapper.read_text()
    scripts = (
        wrapper,
        example / ".config/buildkit/bin/runner",
        example / ".config/buildkit/bin/rustdoc",
    )
    for script in scripts:
        ran = subprocess.run(
            ["shellcheck", "--shell", dialect, "--severity", "style", str(script)],
            capture_output=True,
            text=True,
        )
        assert ran.returncode == 0, ran.stdout


@pytest.mark.parametrize(
    "theirs",
    [
        '[target.x86_64-unknown-linux-gnu]\nrunner = "valgrind"\n',
        '[target.\'cfg(unix)\']\nrunner = ["env", "X=1"]\n',
    ],
)
def test_a_runner_of_the_users_is_a_conflict_and_nothing_is_written(
    example: Path, theirs: str
) -> None:
    _profile(example)
    config = example / CONFIG
    config.parent.mkdir()
    config.write_text(theirs)
    for force in ([], ["--force"]):
        ran = run_buildkit("render", *force, example)
        assert ran.exit_code == 1
        assert "Traceback" not in ran.stderr
        first = ran.stderr.strip().splitlines()[0]  # the error; then the diff it would make
        assert first.startswith("buildkit: error: .cargo/config.toml sets target."), first
        assert "runner" in first and "set admission.runner: false" in first, first
        assert "--force" not in first, "forcing could not help: cargo takes one runner"
        assert config.read_text() == theirs
        assert not (example / ".config/buildkit/bin/runner").exists()


def test_with_the_runner_off_the_users_runner_stays_and_cargo_uses_it(example: Path) -> None:
    _profile(example, "admission:\n  runner: false\n")
    config = example / CONFIG
    config.parent.mkdir()
    mark = example / "ran-through-mine"
    config.write_text(
        f'[target.\'cfg(unix)\']\nrunner = ["sh", "-c", \'touch {mark}; exec "$0" "$@"\']\n'
    )
    ran = run_buildkit("render", example)
    assert ran.exit_code == 0, ran.stderr
    assert not (example / ".config/buildkit/bin/runner").exists()
    assert "rustc-wrapper" in config.read_text()
    test = subprocess.run(["cargo", "test", "-q"], cwd=example, capture_output=True, text=True)
    assert test.returncode == 0, test.stderr
    assert mark.exists()


def test_the_same_runner_key_of_the_users_is_an_ordinary_conflict(example: Path) -> None:
    """The very key buildkit sets: kept unless --force, which keeps it in a comment to restore."""
    _profile(example)
    config = example / CONFIG
    config.parent.mkdir()
    config.write_text("[target.'cfg(all())']\nrunner = \"mine\"\n")
    ran = run_buildkit("render", example)
    assert ran.exit_code == 1
    first = ran.stderr.strip().splitlines()[0]
    assert "(yours)" in first and "admission.runner" in first and "--force" in first, first
    assert run_buildkit("render", "--force", example).exit_code == 0
    assert 'yours: "mine"' in config.read_text()


def test_a_rustdoc_of_the_users_is_an_ordinary_conflict(example: Path) -> None:
    _profile(example)
    config = example / CONFIG
    config.parent.mkdir()
    config.write_text('[build]\nrustdoc = "my-rustdoc"\n')
    ran = run_buildkit("render", example)
    assert ran.exit_code == 1
    first = ran.stderr.strip().splitlines()[0]
    assert "(yours)" in first and "admission.rustdoc" in first and "--force" in first, first
    assert config.read_text() == '[build]\nrustdoc = "my-rustdoc"\n'
    assert not (example / ".config/buildkit/bin/rustdoc").exists()


def test_with_rustdoc_off_the_users_rustdoc_stays(example: Path) -> None:
    _profile(example, "admission:\n  rustdoc: false\n")
    config = example / CONFIG
    config.parent.mkdir()
    config.write_text('[build]\nrustdoc = "my-rustdoc"\n')
    ran = run_buildkit("render", example)
    assert ran.exit_code == 0, ran.stderr
    assert 'rustdoc = "my-rustdoc"' in config.read_text()
    assert "buildkit: admission.rustdoc" not in config.read_text()
    assert not (example / ".config/buildkit/bin/rustdoc").exists()
