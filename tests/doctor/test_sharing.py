"""doctor reports the wrong-code hazard: a target or build dir that several worktrees share
(issue 21: worktrees are isolated; compiled units are shared through the compiler cache). Where
each worktree builds is what real cargo resolves from the environment and config files; cq
itself never points worktrees at one directory."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from conftest import run_buildkit
from cq.cq_helpers import cq_env, render_cq
from cq.worktree_workspace import make_worktrees
from doctor.doctor_helpers import doctor_json

CARGO_DIR_VARS = ("CARGO_TARGET_DIR", "CARGO_BUILD_TARGET_DIR", "CARGO_BUILD_BUILD_DIR")


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    for name in CARGO_DIR_VARS:
        monkeypatch.delenv(name, raising=False)
    return make_worktrees(tmp_path / "repo", ["main", "b2"])


def _hazards(data: dict[str, object]) -> list[dict[str, object]]:
    findings = data["findings"]
    assert isinstance(findings, list)
    return [f for f in findings if f["kind"] == "wrong_code_hazard"]


def _config(checkouts: dict[str, Path], text: str) -> None:
    for checkout in checkouts.values():
        (checkout / ".cargo").mkdir(exist_ok=True)
        (checkout / ".cargo" / "config.toml").write_text(text)


def test_separate_target_dirs_are_no_hazard(repo: dict[str, Path]) -> None:
    data = doctor_json(repo["main"])
    assert data["sharing"] == {"shared_dirs": []}
    assert _hazards(data) == []


@pytest.mark.parametrize(
    ("how", "kind"),
    [
        ("env CARGO_TARGET_DIR", "target-dir"),
        ("env CARGO_BUILD_BUILD_DIR", "build-dir"),
        ("config target-dir", "target-dir"),
        ("config build-dir", "build-dir"),
    ],
)
def test_a_shared_dir_is_the_hazard(
    repo: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, how: str, kind: str
) -> None:
    shared = tmp_path / "shared"
    source, _, key = how.partition(" ")
    if source == "env":
        monkeypatch.setenv(key, str(shared))
    else:
        # relative to the worktree: ../shared is one directory for sibling worktrees
        _config(repo, f'[build]\n{kind} = "../shared"\n')
    data = doctor_json(repo["main"])
    entries = data["sharing"]["shared_dirs"]  # type: ignore[index]
    assert entries == [
        {"kind": kind, "path": str(shared), "worktrees": [str(p) for p in repo.values()]}
    ]
    (hazard,) = _hazards(data)
    assert hazard["path"] == str(shared) and "rust-lang/cargo#12516" in str(hazard["message"])
    text = run_buildkit("doctor", repo["main"])
    assert text.exit_code == 0
    assert f"share the {kind} {shared}: cargo can run" in text.stdout


@pytest.mark.parametrize(
    "config",
    [
        '[build]\ntarget-dir = "target-mine"\n',
        '[build]\nbuild-dir = "{cargo-cache-home}/build/{workspace-path-hash}"\n',
    ],
)
def test_dirs_that_differ_per_worktree_are_no_hazard(repo: dict[str, Path], config: str) -> None:
    _config(repo, config)
    assert doctor_json(repo["main"])["sharing"]["shared_dirs"] == []  # type: ignore[index]


def test_worktrees_built_through_cq_are_no_hazard(repo: dict[str, Path], tmp_path: Path) -> None:
    # the old default shared one build-dir across worktrees: now each builds in its own target/
    cq = render_cq(tmp_path / "cq" / "cq")
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    for checkout in repo.values():
        done = subprocess.run(
            ["dash", str(cq), "build", "--quiet"],
            cwd=checkout,
            env=cq_env(state, CARGO_NET_OFFLINE="true"),
            capture_output=True,
            text=True,
        )
        assert done.returncode == 0, done.stderr
        assert (checkout / "target" / "debug" / "app").is_file()
    data = doctor_json(repo["main"])
    assert data["sharing"] == {"shared_dirs": []}
    assert _hazards(data) == []
    assert not (repo["main"] / ".git" / "buildkit" / "build-dir").exists()
    text = run_buildkit("doctor", repo["main"]).stdout
    assert "isolation: each worktree builds in its own target dir" in text
