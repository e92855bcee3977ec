"""The profile: validation errors that name file:line and key, defaults, the reference page."""

from __future__ import annotations

from pathlib import Path

import pytest

from buildkit.errors import BadInput
from buildkit.profile import parse_profile
from buildkit.profile.reference import render_reference
from conftest import REPO


def parse(text: str) -> dict[str, object]:
    return dict(parse_profile(text, root=Path(), path=Path("buildkit.yaml")).data)


def error_of(text: str) -> str:
    with pytest.raises(BadInput) as caught:
        parse(text)
    message = str(caught.value)
    assert "\n" not in message, "errors are one line"
    return message


def test_defaults_fill_every_section() -> None:
    data = parse("version: 1\n")
    assert data["cargo"]["dependency_debug"] == "line-tables-only"  # type: ignore[index]
    assert data["cq"]["path"] == "scripts/cq"  # type: ignore[index]
    assert "doc" in data["cq"]["oneshot_commands"]  # type: ignore[index]
    assert "build" not in data["cq"]["oneshot_commands"]  # type: ignore[index]
    assert "test" not in data["cq"]["oneshot_commands"]  # type: ignore[index]


def test_values_as_written_win_over_defaults() -> None:
    data = parse("version: 1\ncargo:\n  jobs: 3\n")
    assert data["cargo"]["jobs"] == 3  # type: ignore[index]
    assert data["cargo"]["config_path"] == ".cargo/config.toml"  # type: ignore[index]


def test_malformed_yaml_names_the_line() -> None:
    message = error_of("version: 1\ncargo:\n  jobs: [1, 2\n")
    assert message.startswith("buildkit.yaml:")
    assert "invalid YAML" in message
    line = int(message.split(":")[1])
    assert line >= 3


def test_unknown_key_suggests_the_close_one() -> None:
    message = error_of("version: 1\ncargo:\n  jbos: 4\n")
    assert message.startswith("buildkit.yaml:3: cargo.jbos: unknown key")
    assert "did you mean 'jobs'?" in message


def test_unknown_section_is_an_error() -> None:
    message = error_of("version: 1\ncaro: {}\n")
    assert "buildkit.yaml:2: caro: unknown key; did you mean 'cargo'?" in message


def test_wrong_type_names_key_expected_and_got() -> None:
    message = error_of("version: 1\ncargo:\n  jobs: four\n")
    assert message.startswith("buildkit.yaml:3: cargo.jobs: expected integer or null")
    assert "'four'" in message


def test_enum_lists_the_choices() -> None:
    message = error_of("version: 1\ncq:\n  scope: galaxy\n")
    assert "buildkit.yaml:3: cq.scope: 'galaxy' is not one of 'user', 'repository'" in message


def test_unsupported_version() -> None:
    message = error_of("version: 2\n")
    assert message.startswith("buildkit.yaml:1: version: unsupported profile version 2")
    assert "this buildkit reads version 1" in message


def test_missing_version() -> None:
    assert "version: missing" in error_of("cargo: {}\n")


def test_duplicate_keys_are_not_silently_merged() -> None:
    message = error_of("version: 1\ncargo:\n  jobs: 1\n  jobs: 2\n")
    assert message.startswith("buildkit.yaml:4: cargo.jobs: duplicate key")


def test_empty_and_non_mapping_profiles() -> None:
    assert "is empty" in error_of("")
    assert "must be a mapping" in error_of("- version: 1\n")


def test_nested_item_errors_point_at_the_item() -> None:
    text = "version: 1\nworkspace:\n  members:\n    - name: a\n      path: a\n    - name: b\n"
    message = error_of(text)
    assert message.startswith("buildkit.yaml:6: workspace.members[1]:")
    assert "'path' is a required property" in message


def test_reference_page_is_generated_from_the_schema() -> None:
    page = (REPO / "docs" / "profile.md").read_text(encoding="utf-8")
    assert page == render_reference(), (
        "docs/profile.md is stale: python -m buildkit.profile.reference > docs/profile.md"
    )
