"""Generate the profile reference page (docs/profile.md) from the schema, so it stays true.

Regenerate with: python -m buildkit.profile.reference > docs/profile.md
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from buildkit.profile.schema import PROFILE_VERSION, SECTIONS, profile_schema

PROSE = Path(__file__).parent / "prose"  # hand-written sections: prose/<section>.md


def render_reference() -> str:
    schema = profile_schema()
    out = [
        "# buildkit.yaml reference",
        "",
        "<!-- generated from src/buildkit/profile/schema/ by "
        "`python -m buildkit.profile.reference`; do not edit -->",
        "",
        "`buildkit.yaml` is the project profile: the one source of truth from which buildkit "
        "renders every artifact. It is YAML with a format version; unknown keys are errors. "
        "Every key below is optional unless marked required; an omitted key takes its default.",
        "",
        "```yaml",
        f"version: {PROFILE_VERSION}        # required",
        "workspace: {...}  # written by `buildkit init`",
        "cargo: {...}",
        "```",
        "",
        "The JSON Schema is printed by `buildkit schema` (for editors: yaml-language-server).",
        "",
        "Any file gets an answer in bounded time: a profile or one error line naming "
        "`buildkit.yaml:LINE`. Anchors and aliases (`&a`, `*a`) are refused (a few hundred bytes "
        "of aliases can expand to billions of values); a profile is at most 256 KiB and 32 "
        "levels deep.",
        "",
        "## version",
        "",
        schema["properties"]["version"]["description"] + " Required.",
        "",
    ]
    for section in SECTIONS:
        fragment = schema["properties"][section]
        out += [f"## {section}", "", _text(fragment["description"]), ""]
        out += _table(fragment, prefix=section)
        out.append("")
        out += _prose(section)
    return "\n".join(out).rstrip("\n") + "\n"


def _prose(section: str) -> list[str]:
    """Hand-written text about a section (how it behaves, beyond its keys), when there is one."""
    prose = PROSE / f"{section}.md"
    return [prose.read_text(encoding="utf-8").rstrip("\n"), ""] if prose.is_file() else []


def _table(fragment: dict[str, Any], prefix: str) -> list[str]:
    rows = ["| key | type | default | description |", "| --- | --- | --- | --- |"]
    for name, sub in fragment.get("properties", {}).items():
        rows.append(
            f"| `{prefix}.{name}` | {_type(sub)} | {_default(sub)} | {_text(sub['description'])} |"
        )
        if "properties" in sub:  # a nested mapping (cache.remote): a row per key, dotted
            rows += _table(sub, prefix=f"{prefix}.{name}")[2:]
        items = sub.get("items", {})
        for item_name, item_sub in items.get("properties", {}).items():
            rows.append(
                f"| `{prefix}.{name}[].{item_name}` | {_type(item_sub)} | "
                f"{_default(item_sub)} | {_text(item_sub['description'])} |"
            )
    return rows


def _type(sub: dict[str, Any]) -> str:
    if "enum" in sub:
        return "one of " + ", ".join(f"`{json.dumps(v)}`" for v in sub["enum"])
    kind = sub.get("type", "any")
    text = " or ".join(kind) if isinstance(kind, list) else str(kind)
    if kind == "array" and isinstance(sub.get("items"), dict) and "type" in sub["items"]:
        text = f"list of {sub['items']['type']}"
    if "minimum" in sub:
        text += f" ≥ {sub['minimum']}"
    if "maximum" in sub:
        text += f" ≤ {sub['maximum']}"
    return text


def _default(sub: dict[str, Any]) -> str:
    if "default" not in sub:
        return "required"
    return f"`{json.dumps(sub['default'])}`"


def _text(value: str) -> str:
    return " ".join(value.split()).replace("|", "\\|")


if __name__ == "__main__":
    print(render_reference(), end="")
