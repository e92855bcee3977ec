"""Read ``buildkit.yaml``: YAML with positions, schema validation, errors that say file:line."""

from __future__ import annotations

import difflib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from buildkit.errors import BadInput
from buildkit.pins import pinned_tool
from buildkit.profile.model import ProfileModel
from buildkit.profile.schema import PROFILE_VERSION, profile_schema, with_defaults
from buildkit.profile.typed import build_model

PROFILE_FILE = "buildkit.yaml"
REFERENCE = "docs/profile.md"

KeyPath = tuple[str | int, ...]


@dataclass(frozen=True)
class Profile:
    """A validated profile: the data as written plus every default filled in."""

    root: Path
    path: Path
    data: Mapping[str, Any] = field(repr=False)
    # The typed view (generated from the schema): ``profile.model.cq.path`` is checked by mypy.
    model: ProfileModel = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "model", build_model(self.data))

    def section(self, name: str) -> Mapping[str, Any]:
        value: Mapping[str, Any] = self.data[name]
        return value

    @property
    def hakari_enabled(self) -> bool:
        """``hakari.enabled: null`` means on for workspaces of two or more members."""
        enabled = self.data["hakari"]["enabled"]
        if enabled is None:
            return len(self.data["workspace"]["members"]) >= 2
        return bool(enabled)

    def template_context(self) -> dict[str, Any]:
        """What every template sees: the profile as ``profile``, as the ansible roles pass it."""
        data = dict(self.data)
        data["hakari"] = {**data["hakari"], "enabled": self.hakari_enabled}
        pinned = data["devcontainer"]["cargo_hakari_version"] or pinned_tool("cargo-hakari")
        data["devcontainer"] = {**data["devcontainer"], "cargo_hakari_version": pinned}
        return {"profile": data}


def load_profile(root: Path) -> Profile:
    """Load ``ROOT/buildkit.yaml``; raise BadInput with file:line on any problem."""
    path = root / PROFILE_FILE
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise BadInput(f"{path}: no profile here; run `buildkit init` to create one") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise BadInput(f"{path}: cannot read the profile: {exc}") from None
    return parse_profile(text, root=root, path=path)


def parse_profile(text: str, *, root: Path, path: Path) -> Profile:
    data, lines = _parse_yaml(text, path)
    _check_version(data, lines, path)
    _validate(data, lines, path)
    return Profile(root=root, path=path, data=with_defaults(data))


def _parse_yaml(text: str, path: Path) -> tuple[dict[str, Any], dict[KeyPath, int]]:
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        problem = exc.problem or exc.context or "invalid YAML"
        raise BadInput(f"{where}: invalid YAML: {problem}; fix the syntax there") from None
    if node is None:
        raise BadInput(f"{path}:1: the profile is empty; it needs at least `version: 1`")
    if not isinstance(node, yaml.MappingNode):
        raise BadInput(
            f"{path}:{node.start_mark.line + 1}: the profile must be a mapping of sections "
            "(version: 1, cargo: …, cq: …)"
        )
    lines: dict[KeyPath, int] = {}
    _index_lines(node, (), lines, path)
    data = yaml.SafeLoader("").construct_document(node)
    return data, lines


def _index_lines(node: yaml.Node, at: KeyPath, lines: dict[KeyPath, int], path: Path) -> None:
    """Record the line of every key and item; reject duplicate keys PyYAML would silently merge."""
    lines[at] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key_node, value_node in node.value:
            key = str(key_node.value)
            if key in seen:
                raise BadInput(
                    f"{path}:{key_node.start_mark.line + 1}: {_dotted((*at, key))}: duplicate key; "
                    "keep one of them"
                )
            seen.add(key)
            _index_lines(value_node, (*at, key), lines, path)
            lines[(*at, key)] = key_node.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _index_lines(item, (*at, index), lines, path)


def _check_version(data: dict[str, Any], lines: dict[KeyPath, int], path: Path) -> None:
    if "version" not in data:
        raise BadInput(f"{path}:1: version: missing; add `version: {PROFILE_VERSION}` at the top")
    version = data["version"]
    if version != PROFILE_VERSION or isinstance(version, bool):
        raise BadInput(
            f"{path}:{lines.get(('version',), 1)}: version: unsupported profile version "
            f"{version!r}; this buildkit reads version {PROFILE_VERSION} "
            "(upgrade buildkit, or set `version: 1` and check docs/profile.md)"
        )


def _validate(data: dict[str, Any], lines: dict[KeyPath, int], path: Path) -> None:
    validator = jsonschema.Draft202012Validator(profile_schema())
    errors = list(validator.iter_errors(data))
    if not errors:
        return
    # Report the error that comes first in the file: the one a reader meets first.
    first = min(errors, key=lambda e: (_line_of(tuple(e.absolute_path), lines), str(e.message)))
    raise BadInput(_describe(first, lines, path))


def _line_of(at: KeyPath, lines: dict[KeyPath, int]) -> int:
    while at not in lines:
        at = at[:-1]
    return lines[at]


def _describe(error: jsonschema.ValidationError, lines: dict[KeyPath, int], path: Path) -> str:
    at: KeyPath = tuple(error.absolute_path)
    schema = error.schema if isinstance(error.schema, dict) else {}
    where = f"{path}:{_line_of(at, lines)}"
    key = _dotted(at) or "(top level)"
    section = str(at[0]) if at else ""
    hint = f"see {REFERENCE}#{section}" if section else f"see {REFERENCE}"

    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        known = list(schema.get("properties", {}))
        unknown = [k for k in error.instance if k not in known]
        name = unknown[0] if unknown else "?"
        key_path = (*at, name)
        where = f"{path}:{_line_of(key_path, lines)}"
        close = difflib.get_close_matches(str(name), known, n=1)
        suggestion = f"did you mean {close[0]!r}?" if close else f"known keys: {', '.join(known)}"
        return f"{where}: {_dotted(key_path)}: unknown key; {suggestion} ({hint})"
    if error.validator == "type":
        expected = schema.get("type")
        wanted = " or ".join(expected) if isinstance(expected, list) else str(expected)
        return (
            f"{where}: {key}: expected {wanted.replace('null', 'null (empty)')}, "
            f"got {_kind(error.instance)} {error.instance!r}; {hint}"
        )
    if error.validator == "enum":
        choices = ", ".join(_show(v) for v in schema.get("enum", []))
        return f"{where}: {key}: {_show(error.instance)} is not one of {choices}; {hint}"
    if error.validator == "pattern":
        return (
            f"{where}: {key}: {error.instance!r} does not match the pattern "
            f"{schema.get('pattern')!r}; {hint}"
        )
    if error.validator == "propertyNames":
        return f"{where}: {key}: {error.message}; {hint}"
    if error.validator == "required":
        return f"{where}: {key}: {error.message}; add it ({hint})"
    return f"{where}: {key}: {error.message}; {hint}"


def _dotted(at: Iterator[str | int] | KeyPath) -> str:
    out = ""
    for part in at:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _kind(value: Any) -> str:
    names = {
        bool: "a boolean",
        int: "an integer",
        float: "a number",
        str: "a string",
        list: "a list",
        dict: "a mapping",
        type(None): "null",
    }
    return names.get(type(value), type(value).__name__)


def _show(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value) if isinstance(value, str) else str(value)
