"""One host's plan, as the role's action plugin computes it from the host's facts and what the
probe module read there: the pure part of test_fleet.py (which runs it over ssh), fast."""

from __future__ import annotations

from pathlib import Path

import pytest

from buildkit import fleet
from buildkit.errors import BadInput
from buildkit.profile import Profile, parse_profile
from buildkit.render import home
from buildkit.render.ownership import ManagedBlock

PROFILE = "version: 1\ncargo:\n  jobs: 3\n"


def machine(tmp_path: Path, system: str = "Linux", shell: str = "/bin/bash") -> home.Machine:
    return fleet.machine_of(
        {"system": system, "home": f"{tmp_path}/h", "cargo_home": "", "login_shell": shell}
    )


def probe(**overrides: object) -> fleet.Probe:
    found: dict[str, object] = {
        "files": {},
        "cargo": "/usr/bin/cargo",
        "perl": True,
        "flock_setsid": True,
        "unwritable": [],
        "hakari_version": None,
        **overrides,
    }
    return fleet.Probe.from_result(found)


def written(plan: fleet.HostPlan) -> dict[str, dict[str, object]]:
    """The host's files after the role wrote ``plan``, as the probe module reports them."""
    return {
        e["path"]: {"content": e["content"], "mode": int(str(e["mode"]), 8)} for e in plan.files
    }


def profile(tmp_path: Path, text: str = PROFILE) -> Profile:
    return parse_profile(text, root=tmp_path, path=tmp_path / "buildkit.yaml")


@pytest.mark.parametrize(
    ("system", "shell", "rc"),
    [
        ("Linux", "/usr/bin/zsh", ".zshrc"),  # the login shell decides...
        ("Darwin", "/bin/bash", ".bashrc"),
        ("Linux", "/usr/bin/fish", ".bashrc"),  # ...unless it is neither bash nor zsh
        ("Darwin", "", ".zshrc"),
    ],
)
def test_auto_shell_is_the_login_shell_else_the_platforms(
    tmp_path: Path, system: str, shell: str, rc: str
) -> None:
    artifacts = home.artifacts(profile(tmp_path), machine(tmp_path, system, shell))
    [block] = [a for a in artifacts if isinstance(a, ManagedBlock)]
    assert block.path == f"{tmp_path}/h/{rc}"


def test_a_fresh_host_gets_every_file_with_its_mode_and_hakari(tmp_path: Path) -> None:
    plan = fleet.plan_host("ada", profile(tmp_path), machine(tmp_path), probe())
    result = plan.result()
    assert "failed" not in result and result["changed"] is False
    modes = {entry["path"]: entry["mode"] for entry in plan.files}
    assert modes[f"{tmp_path}/h/.local/bin/cq"] == "0755"
    assert modes[f"{tmp_path}/h/.cargo/config.toml"] == "0644"
    assert plan.install_hakari and plan.cargo_home == f"{tmp_path}/h/.cargo"


def test_a_host_with_the_pinned_hakari_and_its_files_has_nothing_to_do(tmp_path: Path) -> None:
    first = fleet.plan_host("ada", profile(tmp_path), machine(tmp_path), probe())
    files = written(first)
    again = fleet.plan_host(
        "ada",
        profile(tmp_path),
        machine(tmp_path),
        probe(files=files, hakari_version=first.hakari_version),
    )
    assert again.files == [] and not again.install_hakari


def test_what_a_host_lacks_is_one_line_naming_it(tmp_path: Path) -> None:
    lacking = probe(cargo=None, perl=False, flock_setsid=False, unwritable=[f"{tmp_path}/h"])
    plan = fleet.plan_host("ben", profile(tmp_path), machine(tmp_path), lacking)
    result = plan.result()
    assert result["failed"] is True and "\n" not in result["msg"]
    assert result["msg"].startswith("ben: nothing was written on this host: missing cargo")
    assert "perl" in result["msg"] and f"{tmp_path}/h cannot be written" in result["msg"]
    assert plan.files == [] and not plan.install_hakari


def test_a_hand_edit_refuses_the_host_unless_forced(tmp_path: Path) -> None:
    first = fleet.plan_host("cy", profile(tmp_path), machine(tmp_path), probe())
    files = written(first)
    config = f"{tmp_path}/h/.cargo/config.toml"
    files[config]["content"] = str(files[config]["content"]).replace("jobs = 3", "jobs = 7")

    refused = fleet.plan_host("cy", profile(tmp_path), machine(tmp_path), probe(files=files))
    assert refused.result()["msg"] == (
        f"cy: {config} was edited by hand; nothing was written: move your edits into "
        "buildkit.yaml, or run again with -e buildkit_machine_force=true to overwrite them"
    )
    forced = fleet.plan_host(
        "cy", profile(tmp_path), machine(tmp_path), probe(files=files), force=True
    )
    assert [e["path"] for e in forced.files] == [config]


def test_darwin_drops_the_linker_and_a_bad_override_is_refused(tmp_path: Path) -> None:
    mac = machine(tmp_path, "Darwin", "/bin/zsh")
    plan = fleet.plan_host("mac", profile(tmp_path), mac, probe(), fast_linker="mold")
    assert plan.fast_linker == "none"
    with pytest.raises(BadInput, match="buildkit_machine_fast_linker: 'gold'"):
        fleet.plan_host("mac", profile(tmp_path), mac, probe(), fast_linker="gold")


def test_the_profile_must_exist_on_the_controller(tmp_path: Path) -> None:
    with pytest.raises(BadInput, match="no profile given: pass -e buildkit_profile="):
        fleet.load("")
    with pytest.raises(BadInput, match=r"no buildkit\.yaml there"):
        fleet.load(str(tmp_path))
    (tmp_path / "other.yaml").write_text(PROFILE)
    with pytest.raises(BadInput, match=r"other\.yaml: not a buildkit\.yaml"):
        fleet.load(str(tmp_path / "other.yaml"))
    (tmp_path / "buildkit.yaml").write_text(PROFILE)
    assert fleet.load(str(tmp_path / "buildkit.yaml")).model.cargo.jobs == 3
