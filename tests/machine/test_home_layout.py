"""Where provisioning puts each file, from the profile and the machine: the Python side of the
home destination (the ansible runs in test_provision.py write what this computes)."""

from __future__ import annotations

from pathlib import Path

import pytest

from buildkit.profile import parse_profile
from buildkit.render import home
from buildkit.render.ownership import ManagedBlock, MergedToml, OwnedFile


def artifacts_for(tmp_path: Path, machine_yaml: str, system: str) -> dict[str, object]:
    text = f"version: 1\ncargo:\n  jobs: 3\nmachine:\n{machine_yaml}"
    profile = parse_profile(text, root=tmp_path, path=tmp_path / "buildkit.yaml")
    machine = home.Machine(system=system, home=tmp_path / "h", cargo_home=tmp_path / "c")
    return {a.path: a for a in home.artifacts(profile, machine)}


def test_linux_defaults_bashrc_and_the_linker_key(tmp_path: Path) -> None:
    found = artifacts_for(tmp_path, "  fast_linker: mold\n", "Linux")
    assert set(found) == {
        f"{tmp_path}/h/.local/bin/cq",
        f"{tmp_path}/c/config.toml",
        f"{tmp_path}/h/.config/buildkit/env.sh",
        f"{tmp_path}/h/.bashrc",
        f"{tmp_path}/h/.local/share/buildkit/bin/cargo",
        f"{tmp_path}/h/.config/buildkit/hooks/claude-session-start.sh",
        f"{tmp_path}/h/.config/buildkit/hooks/claude-pre-tool-use.pl",
        f"{tmp_path}/h/.claude/settings.json",
        f"{tmp_path}/h/.local/share/buildkit/libexec/rustc-wrapper",
        f"{tmp_path}/h/.local/share/buildkit/libexec/runner",
        f"{tmp_path}/h/.local/share/buildkit/libexec/rustdoc",
    }
    cargo = found[f"{tmp_path}/c/config.toml"]
    assert isinstance(cargo, MergedToml)
    sources = {key.source for key in cargo.managed}
    assert sources == {
        "cargo.dependency_debug",
        "cargo.jobs",
        "machine.fast_linker",
        "admission.enabled",
        "admission.runner",
        "admission.rustdoc",
    }
    keys = {key.keys: key.value for key in cargo.managed}
    libexec = f"{tmp_path}/h/.local/share/buildkit/libexec"
    assert keys[("build", "rustc-wrapper")] == f"{libexec}/rustc-wrapper"
    assert keys[("target", "cfg(all())", "runner")] == f"{libexec}/runner"
    assert keys[("build", "rustdoc")] == f"{libexec}/rustdoc"
    block = found[f"{tmp_path}/h/.bashrc"]
    assert isinstance(block, ManagedBlock) and block.at_top
    assert '. "$HOME"/.config/buildkit/env.sh' in block.body
    assert 'PATH="$HOME"/.local/bin:$PATH' in block.body
    # the shim's folder goes first, after cq's: a plain `cargo` reaches the shim
    assert block.body.index(".local/share/buildkit/bin") > block.body.index(".local/bin")


def test_macos_gets_zshrc_and_no_linker_key(tmp_path: Path) -> None:
    found = artifacts_for(tmp_path, "  fast_linker: mold\n", "Darwin")
    assert f"{tmp_path}/h/.zshrc" in found and f"{tmp_path}/h/.bashrc" not in found
    cargo = found[f"{tmp_path}/c/config.toml"]
    assert isinstance(cargo, MergedToml)
    assert "machine.fast_linker" not in {key.source for key in cargo.managed}


@pytest.mark.parametrize("system", ["Linux", "Darwin"])
def test_rc_file_overrides_the_shells_own(tmp_path: Path, system: str) -> None:
    found = artifacts_for(tmp_path, "  rc_file: ~/.zshenv\n", system)
    rc = [a for a in found.values() if isinstance(a, ManagedBlock)]
    assert [a.path for a in rc] == [f"{tmp_path}/h/.zshenv"]


def test_admission_off_leaves_out_the_wrapper_runner_and_rustdoc(tmp_path: Path) -> None:
    text = "version: 1\nadmission:\n  enabled: false\n"
    profile = parse_profile(text, root=tmp_path, path=tmp_path / "buildkit.yaml")
    machine = home.Machine(system="Linux", home=tmp_path / "h", cargo_home=tmp_path / "c")
    found = {a.path: a for a in home.artifacts(profile, machine)}
    assert not any("libexec" in path for path in found)
    cargo = found[f"{tmp_path}/c/config.toml"]
    assert isinstance(cargo, MergedToml)
    admission_keys = {"admission.enabled", "admission.runner", "admission.rustdoc"}
    assert not {key.source for key in cargo.managed} & admission_keys


def test_rustdoc_off_leaves_out_the_rustdoc_alone(tmp_path: Path) -> None:
    text = "version: 1\nadmission:\n  rustdoc: false\n"
    profile = parse_profile(text, root=tmp_path, path=tmp_path / "buildkit.yaml")
    machine = home.Machine(system="Linux", home=tmp_path / "h", cargo_home=tmp_path / "c")
    found = {a.path: a for a in home.artifacts(profile, machine)}
    libexec = {Path(path).name for path in found if "/libexec/" in path}
    assert libexec == {"rustc-wrapper", "runner"}
    cargo = found[f"{tmp_path}/c/config.toml"]
    assert isinstance(cargo, MergedToml)
    assert ("build", "rustdoc") not in {key.keys for key in cargo.managed}
    assert "admission.runner" in {key.source for key in cargo.managed}


def test_a_users_own_rustdoc_is_a_conflict(tmp_path: Path) -> None:
    """Like a repository's: a `build.rustdoc` the user set is theirs until --force."""
    found = artifacts_for(tmp_path, "  install_cq: true\n", "Linux")
    cargo = found[f"{tmp_path}/c/config.toml"]
    assert isinstance(cargo, MergedToml)
    [conflict] = cargo.conflicts('[build]\nrustdoc = "my-rustdoc"\n')
    assert "build.rustdoc" in conflict.text and "admission.rustdoc" in conflict.text


def test_switches_leave_out_their_files(tmp_path: Path) -> None:
    found = artifacts_for(
        tmp_path, "  install_cq: false\n  cargo_config: false\n  shell_env: false\n", "Linux"
    )
    assert found == {}  # no cq: no shim and no hooks either (they need the queue)


def test_without_cq_the_block_does_not_touch_path(tmp_path: Path) -> None:
    found = artifacts_for(tmp_path, "  install_cq: false\n", "Linux")
    assert not any(isinstance(a, OwnedFile) and a.path.endswith("/cq") for a in found.values())
    [block] = [a for a in found.values() if isinstance(a, ManagedBlock)]
    assert "PATH" not in block.body
    assert not any(path.endswith(("/cargo", "settings.json")) for path in found)
