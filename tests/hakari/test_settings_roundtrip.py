"""Property: any hakari section of the profile, rendered to hakari.toml and imported back,
gives the same settings (what `buildkit init` relies on to take over a user's file)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from buildkit.profile import parse_profile, profile_schema
from buildkit.render import templating
from buildkit.render.hakari import HakariConfigFile, hakari_settings, import_hakari_toml


def schema_values(key: str) -> list[Any]:
    """A hakari key's value list, from the schema (its one home)."""
    values: list[Any] = profile_schema()["properties"]["hakari"]["properties"][key]["enum"]
    return [v for v in values if v is not None]


names = st.from_regex(r"[a-z][a-z0-9_-]{0,12}", fullmatch=True)
# The profile's TOML-safe strings: any character but DEL and those beyond the BMP.
text = st.text(
    st.characters(max_codepoint=0xFFFF, blacklist_categories=("Cs",), blacklist_characters="\x7f"),
    max_size=20,
)
third_party = st.builds(
    lambda name, extra: {"name": name, **extra},
    names,
    st.dictionaries(st.sampled_from(["version", "git", "path", "registry", "rev"]), text),
)
sections = st.fixed_dictionaries(
    {},
    optional={
        "package": names,
        "resolver": st.sampled_from(schema_values("resolver")),
        "dep_format_version": st.sampled_from(schema_values("dep_format_version")),
        "platforms": st.lists(names, unique=True, max_size=3),
        "exclude_members": st.lists(names, unique=True, max_size=3),
        "exclude_third_party": st.lists(third_party, max_size=3),
        "final_exclude_members": st.lists(names, unique=True, max_size=3),
        "final_exclude_third_party": st.lists(third_party, max_size=3),
        "exact_versions": st.booleans(),
        "absolute_paths": st.booleans(),
        "builder_summary": st.booleans(),
        "output_single_feature": st.booleans(),
        "unify_target_host": st.sampled_from([None, *schema_values("unify_target_host")]),
        "workspace_hack_line_style": st.sampled_from(
            [None, *schema_values("workspace_hack_line_style")]
        ),
        "registries": st.dictionaries(names, text, max_size=2),
    },
)


def render(section: dict[str, Any], root: Path) -> str:
    data = {"version": 1, "hakari": {"enabled": True, **section}}
    profile = parse_profile(yaml.safe_dump(data), root=root, path=root / "buildkit.yaml")
    return templating.render("templates", "hakari.toml.j2", profile.template_context())


@settings(max_examples=150, deadline=None)
@given(section=sections)
def test_render_then_import_keeps_every_setting(
    tmp_path_factory: Any, section: dict[str, Any]
) -> None:
    root = tmp_path_factory.mktemp("h")
    body = render(section, root)
    path = root / "hakari.toml"
    path.write_text(body)
    imported = import_hakari_toml(path, "hakari.toml")
    again = render({k: v for k, v in imported.items() if k != "enabled"}, root)
    assert hakari_settings(again) == hakari_settings(body)
    # A hand-written file with those settings (no header, other comments) is taken over;
    # one with a setting changed is not.
    artifact = HakariConfigFile(path=".config/hakari.toml", body=body)
    assert not artifact.user_edited("# mine\n" + body)
    changed = body.replace("resolver = ", "exact-versions = true\nresolver = ", 1)
    if "exact-versions" not in body:
        assert artifact.user_edited(changed)
