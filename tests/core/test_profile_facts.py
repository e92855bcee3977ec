"""buildkit.yaml's `workspace` section is buildkit's record of what cargo metadata reports: kept
current by render, but a hand edit of it is refused like an edit of any other part buildkit
owns (nothing written without --force), however the YAML spells the section."""

from __future__ import annotations

import re
import stat
from pathlib import Path

import yaml

from buildkit.profile.facts import facts_checksum
from conftest import run_buildkit

HELLO = {
    "kind": "workspace",
    "members": [
        {"name": "greet", "path": "crates/greet", "features": ["loud"]},
        {"name": "hello", "path": "crates/hello", "features": []},
    ],
    "default_members": ["greet", "hello"],
}


def everything(root: Path) -> dict[str, tuple[int, bytes]]:
    return {
        str(p.relative_to(root)): (stat.S_IMODE(p.stat().st_mode), p.read_bytes())
        for p in sorted(root.rglob("*"))
        if p.is_file() and "target" not in p.relative_to(root).parts
    }


def recorded(profile: Path) -> object:
    return yaml.safe_load(profile.read_text())["workspace"]


def assert_marked(profile: Path) -> None:
    """The section is the detected facts, under a checksum line that matches them."""
    text = profile.read_text()
    marks = re.findall(r"^# buildkit: workspace facts.*\(checksum ([0-9a-f]{12})\)$", text, re.M)
    assert marks == [facts_checksum(HELLO)], text
    assert recorded(profile) == HELLO
    assert text.index("# buildkit: workspace facts") < text.index("workspace:")


def test_a_hand_edit_of_the_recorded_facts_is_refused_unless_forced(example: Path) -> None:
    assert run_buildkit("init", example).exit_code == 0
    profile = example / "buildkit.yaml"
    assert_marked(profile)
    profile.write_text(profile.read_text().replace("- loud\n", "- loud\n    - quiet\n"))
    before = everything(example)
    check = run_buildkit("check", example)
    assert check.exit_code == 1
    assert "buildkit.yaml: workspace: the recorded facts were edited by hand" in check.stderr
    ran = run_buildkit("render", example)
    assert ran.exit_code == 1, ran.stdout + ran.stderr
    errors = [ln for ln in ran.stderr.splitlines() if ln.startswith("buildkit: error:")]
    assert len(errors) == 1 and "Traceback" not in ran.stderr, ran.stderr
    assert "--force" in errors[0] and "nothing was written" in errors[0], errors[0]
    assert "-    - quiet" in ran.stderr, "the refusal shows what --force would change"
    assert everything(example) == before
    forced = run_buildkit("render", "--force", example)
    assert forced.exit_code == 0, forced.stderr
    assert_marked(profile)
    assert run_buildkit("check", example).exit_code == 0


def test_a_section_the_user_wrote_in_flow_style_with_quoted_keys(example: Path) -> None:
    """No checksum line: the user's own section, found by the YAML parser whatever its style,
    replaced only with --force, every other byte (comments included) kept."""
    profile = example / "buildkit.yaml"
    profile.write_text(
        "version: 1\n"
        "# my workspace, written by hand\n"
        '"workspace": {"kind": workspace, members: [{name: gone, path: crates/gone}]}  # mine\n'
        "\n"
        "# queue settings\n"
        "'cq': {grace_seconds: 4}\n"
    )
    before = everything(example)
    ran = run_buildkit("render", example)
    assert ran.exit_code == 1, ran.stdout + ran.stderr
    assert "workspace: the recorded facts were edited by hand" in ran.stderr
    assert everything(example) == before
    assert run_buildkit("render", "--force", example).exit_code == 0
    text = profile.read_text()
    assert text.startswith("version: 1\n# my workspace, written by hand\n# buildkit: workspace")
    assert text.endswith("# mine\n\n# queue settings\n'cq': {grace_seconds: 4}\n"), text
    assert_marked(profile)
    assert "gone" not in text
    assert run_buildkit("check", example).exit_code == 0


def test_restyling_the_recorded_facts_is_no_edit(example: Path) -> None:
    """Flow style and quotes with the same values keep the checksum: a stale section is then
    refreshed without --force."""
    assert run_buildkit("init", example).exit_code == 0
    profile = example / "buildkit.yaml"
    text = profile.read_text()
    section = re.search(r"^workspace:\n(?:[ -].*\n)+", text, re.M)
    assert section is not None
    flow = '"workspace": ' + yaml.safe_dump(HELLO, default_flow_style=True, width=1000)
    profile.write_text(text.replace(section.group(0), flow))
    assert recorded(profile) == HELLO
    assert run_buildkit("check", example).exit_code == 0
    greet = example / "crates" / "greet" / "Cargo.toml"
    greet.write_text(greet.read_text().replace("loud = []", "loud = []\nshout = []"))
    ran = run_buildkit("render", example)
    assert ran.exit_code == 0, ran.stderr
    assert "updated: buildkit.yaml (workspace facts: features of greet changed)" in ran.stdout
    assert recorded(profile)["members"][0]["features"] == ["loud", "shout"]  # type: ignore[index]
    marks = re.findall(r"\(checksum ([0-9a-f]{12})\)$", profile.read_text(), re.M)
    assert marks == [facts_checksum(recorded(profile))]
    assert run_buildkit("check", example).exit_code == 0
