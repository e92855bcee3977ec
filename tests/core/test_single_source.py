"""Every pinned version lives in ci/pins.yaml only: no other source file repeats it.

A second copy is how a laptop, a container, CI and `buildkit init` end up with different
cargo-hakari versions (and `generate --diff` drift nobody caused). Measurements that record
which version they ran with (bench/ results, the CHANGELOG) are history, not sources.
"""

from __future__ import annotations

import re
import subprocess

import pytest

from buildkit.pins import PINS_FILE, load_pins, pinned_tool
from buildkit.profile import profile_schema
from conftest import REPO

HISTORY = ("CHANGELOG.md", "bench/")


def tracked_sources() -> dict[str, str]:
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split("\0")
    sources = {}
    for name in filter(None, listed):
        if name == f"ci/{PINS_FILE}" or name.startswith(HISTORY):
            continue
        path = REPO / name
        if not path.is_file():
            continue  # deleted in the work tree
        try:
            sources[name] = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
    return sources


PINS = load_pins()
PINNED = sorted(
    [(f"tools.{name}", version) for name, version in PINS.tools.items() if version]
    + [(f"actions.{name}.sha", pin.sha) for name, pin in PINS.actions.items()]
)


@pytest.mark.parametrize(("key", "value"), PINNED, ids=[key for key, _ in PINNED])
def test_a_pinned_value_has_no_second_copy(key: str, value: str) -> None:
    copies = [name for name, text in tracked_sources().items() if value in text]
    assert copies == [], f"{key} = {value} is repeated in {copies}; read it from ci/{PINS_FILE}"


def test_the_checker_sees_a_planted_copy(tmp_path: object) -> None:
    """The test above could pass by reading nothing: prove it finds the version in a source."""
    version = pinned_tool("cargo-hakari")
    sources = tracked_sources()
    assert "src/buildkit/pins.py" in sources and "dev/setup.d/10-cargo-tools.sh" in sources
    planted = {**sources, "x.sh": f"CARGO_HAKARI_VERSION={version}\n"}
    assert [n for n, text in planted.items() if version in text] == ["x.sh"]


def _enums(schema: object, where: str = "") -> list[tuple[str, list[str]]]:
    """Every value list (``enum``) of three or more strings in the profile schema."""
    found: list[tuple[str, list[str]]] = []
    if isinstance(schema, dict):
        values = [v for v in schema.get("enum", []) if isinstance(v, str)]
        if len(values) >= 3:
            found.append((where, values))
        for key, sub in schema.items():
            found += _enums(sub, f"{where}.{key}" if where else str(key))
    elif isinstance(schema, list):
        for item in schema:
            found += _enums(item, where)
    return found


# The schema and what is generated from it (the typed model, the reference page) hold the lists.
SCHEMA_OWNED = ("src/buildkit/profile/schema/", "src/buildkit/profile/model.py", "docs/profile.md")
ENUMS = _enums(profile_schema())


def _listed_together(values: list[str], text: str) -> bool:
    """The values written one after another as a list, in any language's notation."""
    separator = r"""[\s'",|/\[\]()]{1,8}"""
    pattern = separator.join(re.escape(v) for v in values)
    return re.search(rf"(?<![\w-]){pattern}(?![\w-])", text) is not None


@pytest.mark.parametrize(("key", "values"), ENUMS, ids=[key for key, _ in ENUMS])
def test_a_value_list_lives_in_the_schema_only(key: str, values: list[str]) -> None:
    copies = [
        name
        for name, text in tracked_sources().items()
        if not name.startswith(SCHEMA_OWNED)
        and name != "tests/core/test_single_source.py"
        and _listed_together(values, text)
    ]
    assert copies == [], f"the value list of {key} {values} is repeated in {copies}"


def test_the_value_list_finder_sees_the_notations_a_copy_would_use() -> None:
    values = ["none", "mold", "lld"]
    assert _listed_together(values, "choices: [none, mold, lld]")
    assert _listed_together(values, "case $x in none | mold | lld) ;;")
    assert _listed_together(values, '"enum": ["none", "mold", "lld"]')
    assert not _listed_together(values, "none of the mold, nor lld")
