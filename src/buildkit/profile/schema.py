"""Assemble the profile's JSON Schema from one file per section, and fill in defaults."""

from __future__ import annotations

import copy
import functools
from pathlib import Path
from typing import Any

import yaml

PROFILE_VERSION = 1

# Section order is the order of buildkit.yaml and of the reference page.
SECTIONS = (
    "workspace",
    "cargo",
    "env",
    "cq",
    "cache",
    "admission",
    "gc",
    "agents",
    "hakari",
    "ci",
    "devcontainer",
    "machine",
)

_SCHEMA_DIR = Path(__file__).resolve().parent / "schema"


@functools.cache
def profile_schema() -> dict[str, Any]:
    """The whole profile's JSON Schema (draft 2020-12)."""
    properties: dict[str, Any] = {
        "version": {
            "description": "Format version of this file. This buildkit reads version 1.",
            "const": PROFILE_VERSION,
        }
    }
    for section in SECTIONS:
        text = (_SCHEMA_DIR / f"{section}.yaml").read_text(encoding="utf-8")
        fragment = yaml.safe_load(text)
        fragment.setdefault("default", {})
        properties[section] = fragment
    schema: dict[str, Any] = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "buildkit.yaml",
        "type": "object",
        "additionalProperties": False,
        "required": ["version"],
        "properties": properties,
    }
    return schema


def with_defaults(data: dict[str, Any]) -> dict[str, Any]:
    """Return a copy of a valid profile with every omitted key set to its schema default."""
    filled: dict[str, Any] = _fill(profile_schema(), copy.deepcopy(data))
    return filled


def _fill(schema: dict[str, Any], value: Any) -> Any:
    if isinstance(value, dict) and "properties" in schema:
        for key, sub in schema["properties"].items():
            if key not in value and "default" in sub:
                value[key] = copy.deepcopy(sub["default"])
            if key in value:
                value[key] = _fill(sub, value[key])
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        return [_fill(schema["items"], item) for item in value]
    return value
