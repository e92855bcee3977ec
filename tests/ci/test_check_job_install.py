"""The `buildkit check` job installs the buildkit that rendered the workflow from where it can
be had, never a `buildkit-rs==X` that no index has."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import yaml

import buildkit.install_source
from buildkit import __version__
from buildkit.install_source import installed_source
from conftest import REPO, build_file_tree, run_buildkit
from workflow_runner import WORKFLOW, LocalRunner, buildkit_remote

PACKAGE = {
    "Cargo.toml": '[package]\nname = "alpha"\nversion = "0.1.0"\nedition = "2021"\n',
    "src/lib.rs": "/// One.\npub fn one() -> i32 {\n    1\n}\n",
}
COMMIT = "0123456789abcdef0123456789abcdef01234567"


def test_an_unpublished_buildkit_without_a_source_leaves_the_job_out(tmp_path: Path) -> None:
    root = build_file_tree(tmp_path / "ws", PACKAGE)
    ran = run_buildkit("init", "--yes", "--no-probes", root)
    assert ran.exit_code == 0, ran.stderr
    line = next(x for x in ran.stdout.splitlines() if "`buildkit check` job" in x)
    assert line == (
        f"chose: no `buildkit check` job: buildkit-rs {__version__} is not published on any "
        "index and this buildkit was not installed from a pinned source; set "
        "ci.buildkit_source: git+https://HOST/OWNER/buildkit@<40-hex commit> (or an https "
        "wheel URL) to add it"
    )
    text = (root / WORKFLOW).read_text()
    assert "buildkit" not in yaml.safe_load(text)["jobs"]
    assert "buildkit-rs==" not in text and "pip install" not in text


def test_a_published_version_is_installed_from_pypi(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Stands in for a release: its version is listed as published.
    monkeypatch.setattr(buildkit.install_source, "PUBLISHED_VERSIONS", frozenset({__version__}))
    root = build_file_tree(tmp_path / "ws", PACKAGE)
    ran = run_buildkit("init", "--yes", "--no-probes", root)
    assert ran.exit_code == 0, ran.stderr
    assert (
        f"chose: the `buildkit check` job installs buildkit-rs=={__version__} from PyPI"
        in ran.stdout
    )
    job = yaml.safe_load((root / WORKFLOW).read_text())["jobs"]["buildkit"]
    assert job["steps"][-2]["env"]["BUILDKIT_REQUIREMENT"] == f"buildkit-rs=={__version__}"


@pytest.mark.parametrize(
    ("source", "ok"),
    [
        (f"git+https://git.example.org/org/buildkit@{COMMIT}", True),
        ("https://example.org/dist/buildkit_rs-0.1.0-py3-none-any.whl", True),
        (f"https://example.org/buildkit_rs-0.1.0-py3-none-any.whl#sha256={'a' * 64}", True),
        ("git+https://git.example.org/org/buildkit@main", False),  # a branch moves
        (f"git+http://git.example.org/org/buildkit@{COMMIT}", False),
        (f"git+file:///home/me/buildkit@{COMMIT}", False),  # a laptop path: not for CI
        ("buildkit-rs==0.1.0", False),
    ],
)
def test_the_source_key_takes_pinned_urls_only(tmp_path: Path, source: str, ok: bool) -> None:
    root = build_file_tree(tmp_path / "ws", PACKAGE)
    (root / "buildkit.yaml").write_text(
        yaml.safe_dump({"version": 1, "ci": {"buildkit_source": source}})
    )
    ran = run_buildkit("render", root)
    if not ok:
        assert ran.exit_code == 2
        assert len(ran.stderr.strip().splitlines()) == 1
        assert "ci.buildkit_source" in ran.stderr
        assert not (root / WORKFLOW).exists()
        return
    assert ran.exit_code == 0, ran.stderr
    job = yaml.safe_load((root / WORKFLOW).read_text())["jobs"]["buildkit"]
    assert job["steps"][-2]["env"]["BUILDKIT_REQUIREMENT"] == f"buildkit-rs @ {source}"


def _dist_info(site: Path, direct_url: dict[str, object] | None) -> list[str]:
    info = site / "buildkit_rs-0.1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: buildkit-rs\nVersion: 0.1.0\n")
    if direct_url is not None:
        (info / "direct_url.json").write_text(json.dumps(direct_url))
    return [str(site)]


WHEEL = "https://example.org/buildkit_rs-0.1.0-py3-none-any.whl"


@pytest.mark.parametrize(
    ("direct_url", "expected"),
    [
        (
            {"url": "https://git.example.org/b", "vcs_info": {"vcs": "git", "commit_id": COMMIT}},
            f"git+https://git.example.org/b@{COMMIT}",
        ),
        (
            {"url": WHEEL, "archive_info": {"hashes": {"sha256": "b" * 64}}},
            f"{WHEEL}#sha256={'b' * 64}",
        ),
        ({"url": WHEEL, "archive_info": {}}, WHEEL),
        ({"url": "https://git.example.org/b", "vcs_info": {"vcs": "git", "commit_id": "ab"}}, None),
        ({"url": "file:///home/me/buildkit", "dir_info": {}}, None),  # a laptop path
        ({"url": "http://g.example.org/b", "vcs_info": {"vcs": "git", "commit_id": COMMIT}}, None),
        (None, None),  # installed from an index: nothing recorded
    ],
)
def test_init_takes_the_source_buildkit_was_installed_from(
    tmp_path: Path, direct_url: dict[str, object] | None, expected: str | None
) -> None:
    # Real dist-info files on disk, read through importlib.metadata as pip leaves them (PEP 610).
    assert installed_source(_dist_info(tmp_path / "site", direct_url)) == expected


@pytest.mark.slow
def test_the_install_step_installs_buildkit_from_the_pinned_git_source(tmp_path: Path) -> None:
    status = subprocess.run(
        ["git", "-C", str(REPO), "status", "--porcelain", "--", "src", "ci", "templates"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert not status, f"commit first: the job installs HEAD, not the working tree\n{status}"
    source, git_env = buildkit_remote(tmp_path)
    root = build_file_tree(tmp_path / "ws", PACKAGE)
    ran = run_buildkit("init", "--yes", "--no-probes", root)
    assert ran.exit_code == 0, ran.stderr
    # The key init's summary names turns the job on.
    profile = root / "buildkit.yaml"
    data = yaml.safe_load(profile.read_text())
    data["ci"]["buildkit_source"] = source
    profile.write_text(yaml.safe_dump(data, sort_keys=False))
    assert run_buildkit("render", root).exit_code == 0
    workflow = yaml.safe_load((root / WORKFLOW).read_text())
    scratch = tmp_path / "runner"
    scratch.mkdir()
    # setup-python's stand-in is a fresh venv: buildkit comes only from the source.
    runner = LocalRunner(root, scratch, workflow, git_env)
    runner.run_job("buildkit")
    installed = runner.output_of("buildkit", "Install buildkit")
    assert "buildkit.invalid/buildkit" in installed and "Successfully installed" in installed
    assert f"buildkit-rs-{__version__}" in installed
    check = runner.output_of("buildkit", "buildkit check")
    assert "ok: " in check
    # The buildkit that ran is the venv's, not this checkout's editable install.
    venv_buildkit = scratch / "setup-python" / "bin" / "buildkit"
    assert venv_buildkit.is_file()
