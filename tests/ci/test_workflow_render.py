"""The workflow as an owned artifact: drift detection, retiring it, and what it is rendered from."""

from __future__ import annotations

import tomllib
from importlib import metadata
from pathlib import Path

import pytest
import yaml

from buildkit import DISTRIBUTION, __version__
from buildkit.errors import BadInput
from buildkit.pins import PINS_FILE, load_pins
from buildkit.render import templating
from buildkit.render.ci_workflow import toolchain_channel
from buildkit.resources import data_dir
from conftest import REPO, build_file_tree, run_buildkit

WORKFLOW = ".github/workflows/rust.yml"


def init(root: Path, profile: str) -> None:
    (root / "buildkit.yaml").write_text(profile)
    ran = run_buildkit("init", "--yes", root)
    assert ran.exit_code == 0, ran.stdout + ran.stderr


def test_check_fails_after_a_hand_edit_and_passes_after_render(example: Path) -> None:
    init(example, "version: 1\nhakari:\n  enabled: false\n")
    workflow = example / WORKFLOW
    assert run_buildkit("check", example).exit_code == 0
    text = workflow.read_text()
    workflow.write_text(text.replace("cargo test --workspace", "cargo test --workspace || true"))
    ran = run_buildkit("check", example)
    assert ran.exit_code == 1
    assert f"drift: {WORKFLOW}: " in ran.stderr
    assert "+        run: cargo test --workspace\n" in ran.stdout  # the diff back to the profile
    # render refuses to overwrite the edit silently; --force puts the generated file back.
    refused = run_buildkit("render", example)
    assert refused.exit_code == 1 and "was edited by hand" in refused.stderr
    assert run_buildkit("render", "--force", example).exit_code == 0
    assert workflow.read_text() == text
    assert run_buildkit("check", example).exit_code == 0


def test_a_profile_change_is_drift_until_rendered(example: Path) -> None:
    init(example, "version: 1\nhakari:\n  enabled: false\n")
    profile = example / "buildkit.yaml"
    profile.write_text(profile.read_text() + "ci:\n  os: [ubuntu-latest, macos-latest]\n")
    assert run_buildkit("check", example).exit_code == 1
    assert run_buildkit("render", example).exit_code == 0
    assert "macos-latest" in (example / WORKFLOW).read_text()
    assert run_buildkit("check", example).exit_code == 0


def test_disabling_ci_removes_the_workflow_and_a_custom_path_is_used(example: Path) -> None:
    init(example, "version: 1\nhakari:\n  enabled: false\nci:\n  path: .github/workflows/b.yml\n")
    assert (example / ".github/workflows/b.yml").is_file()
    assert not (example / WORKFLOW).exists()
    profile = example / "buildkit.yaml"
    profile.write_text(
        profile.read_text().replace("  path: .github", "  enabled: false\n  path: .github")
    )
    ran = run_buildkit("render", example)
    assert ran.exit_code == 0, ran.stderr
    assert not (example / ".github/workflows/b.yml").exists()
    assert run_buildkit("check", example).exit_code == 0


def test_a_workflow_path_outside_github_workflows_is_refused(example: Path) -> None:
    (example / "buildkit.yaml").write_text("version: 1\nci:\n  path: ../evil.yml\n")
    ran = run_buildkit("render", example)
    assert ran.exit_code == 2
    assert "ci.path" in ran.stderr and "does not match" in ran.stderr


def test_github_expressions_pass_through_the_ci_environment() -> None:
    env = templating.environment("ci")
    out = env.from_string(
        "a: ${{ github.ref }}\n[% if x %]\nb: [[ x ]]\n[% endif %]\nc: {{ y }} {% z %}\n"
    ).render(x="1")
    assert out == "a: ${{ github.ref }}\nb: 1\nc: {{ y }} {% z %}\n"
    # The shared templates keep Jinja's usual syntax.
    assert templating.environment("templates").from_string("{{ x }}").render(x=2) == "2"


def test_toolchain_comes_from_rust_toolchain_files(tmp_path: Path) -> None:
    root = build_file_tree(
        tmp_path / "a", {"rust-toolchain.toml": '[toolchain]\nchannel = "1.85.0"\n'}
    )
    assert toolchain_channel(root, "stable") == "1.85.0"
    legacy = build_file_tree(tmp_path / "b", {"rust-toolchain": "nightly-2026-01-01\n"})
    assert toolchain_channel(legacy, "stable") == "nightly-2026-01-01"
    components_only = build_file_tree(
        tmp_path / "c", {"rust-toolchain.toml": '[toolchain]\ncomponents = ["clippy"]\n'}
    )
    assert toolchain_channel(components_only, "beta") == "beta"
    assert toolchain_channel(tmp_path, "stable") == "stable"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[toolchain\n", "invalid TOML"),
        ('[toolchain]\nchannel = "stable; rm -rf /"\n', "is not a toolchain name"),
    ],
)
def test_a_bad_toolchain_file_is_one_clear_error(tmp_path: Path, text: str, message: str) -> None:
    build_file_tree(tmp_path, {"rust-toolchain.toml": text})
    with pytest.raises(BadInput, match=message):
        toolchain_channel(tmp_path, "stable")


def test_pins_file_is_complete_and_well_formed() -> None:
    pins = load_pins()
    raw = yaml.safe_load((data_dir("ci") / PINS_FILE).read_text())
    assert set(pins.actions) == set(raw["actions"])
    for name, entry in raw["actions"].items():
        assert len(entry["sha"]) == 40 and int(entry["sha"], 16) >= 0, name
        assert entry["kind"] in ("tag", "branch") and entry["track"] and entry["source"], name
    template = (data_dir("ci") / "rust.yml.j2").read_text()
    for name in pins.actions:
        assert f'"{name}" | pin' in template, f"{name} is pinned but never used"


def test_the_distribution_name_is_the_one_the_job_installs() -> None:
    # pyproject's name is what pip resolves the default requirement against.
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert project["name"] == DISTRIBUTION == "buildkit-rs"
    assert project["scripts"] == {"buildkit": "buildkit.cli:main"}
    assert metadata.version(DISTRIBUTION) == __version__


def test_doctests_step_follows_the_profile(example: Path) -> None:
    init(example, "version: 1\nhakari:\n  enabled: false\nci:\n  nextest: true\n")
    workflow = example / WORKFLOW
    assert "run: cargo test --workspace --doc\n" in workflow.read_text()
    profile = example / "buildkit.yaml"
    profile.write_text(profile.read_text() + "  doctests: false\n")
    assert run_buildkit("render", example).exit_code == 0
    text = workflow.read_text()
    assert "--doc" not in text and "run: cargo nextest run --workspace --no-tests=warn\n" in text
