"""Read ``buildkit.yaml``: YAML with positions, schema validation, errors that say file:line."""

from __future__ import annotations

import datetime
import difflib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema
import yaml
from yaml.constructor import SafeConstructor
from yaml.resolver import Resolver

from buildkit.errors import BadInput
from buildkit.pins import pinned_tool
from buildkit.profile.model import ProfileModel
from buildkit.profile.schema import PROFILE_VERSION, profile_schema, with_defaults
from buildkit.profile.typed import build_model

PROFILE_FILE = "buildkit.yaml"
REFERENCE = "docs/profile.md"
# Bounds that keep loading any input fast; real profiles are a few kB, a few levels deep.
MAX_PROFILE_CHARS = 262_144
MAX_DEPTH = 32

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

    @property
    def hakari_enabled(self) -> bool:
        """``hakari.enabled: null`` means on for workspaces of two or more members."""
        enabled = self.model.hakari.enabled
        if enabled is None:
            return len(self.model.workspace.members) >= 2
        return enabled

    def template_context(self) -> dict[str, Any]:
        """What every template sees: the profile as ``profile``, every default filled in (the
        one place outside the loader that reads the profile as a mapping: Jinja reads it)."""
        data = dict(self.data)
        data["hakari"] = {**data["hakari"], "enabled": self.hakari_enabled}
        pinned = data["devcontainer"]["cargo_hakari_version"] or pinned_tool("cargo-hakari")
        data["devcontainer"] = {**data["devcontainer"], "cargo_hakari_version": pinned}
        return {"profile": data}


def load_profile(root: Path) -> Profile:
    """Load ``ROOT/buildkit.yaml``; raise BadInput with file:line on any problem."""
    path = root / PROFILE_FILE
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise BadInput(f"{path}: no profile here; run `buildkit init` to create one") from None
    except OSError as exc:
        raise BadInput(f"{path}: cannot read the profile: {exc}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise BadInput(
            f"{path}:{line}: not UTF-8 (byte {raw[exc.start]:#04x}); save the profile as UTF-8"
        ) from None
    return parse_profile(text, root=root, path=path)


def parse_profile(text: str, *, root: Path, path: Path) -> Profile:
    """Parse and validate a profile. Total: any text gives a Profile or one-line BadInput."""
    if len(text) > MAX_PROFILE_CHARS:
        raise BadInput(
            f"{path}: {len(text)} characters; a profile is at most {MAX_PROFILE_CHARS}, "
            "is this the right file?"
        )
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:  # a lone surrogate: only possible from a str, not a file
        raise BadInput(
            f"{path}:{text.count(chr(10), 0, exc.start) + 1}: character "
            f"#x{ord(text[exc.start]):04x} is not valid Unicode; remove it"
        ) from None
    try:
        data, lines = _parse_yaml(text, path)
        _check_version(data, lines, path)
        _validate(data, lines, path)
    except RecursionError:
        raise BadInput(f"{path}: nested too deeply to read; flatten it") from None
    return Profile(root=root, path=path, data=with_defaults(data))


class _Guarded(yaml.composer.Composer):
    """A composer without aliases (``*name``): expanding them is how a few hundred bytes of
    YAML become billions of nodes, and a profile has no need for them; and with a depth cap,
    since PyYAML's composer recurses once per level."""

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        if self.check_event(yaml.AliasEvent):
            mark = self.peek_event().start_mark
            line = mark.line + 1 if mark else 1
            raise BadInput(
                f"{self.profile_path}:{line}: aliases (*name) are not supported in a "
                "profile; write the value out in full"
            )
        self.depth += 1
        if self.depth > MAX_DEPTH:
            mark = self.peek_event().start_mark
            line = mark.line + 1 if mark else 1
            raise BadInput(
                f"{self.profile_path}:{line}: nested more than {MAX_DEPTH} levels "
                "deep; a profile needs a few levels at most"
            )
        try:
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1

    profile_path: Path = Path(PROFILE_FILE)
    depth: int = 0
    # Provided by the parser class mixed in after this one (Python's or libyaml's).
    check_event: Callable[..., bool]
    peek_event: Callable[[], yaml.Event]
    dispose: Callable[[], None]


class _PythonLoader(_Guarded, yaml.SafeLoader):
    pass


if yaml.__with_libyaml__:
    from yaml._yaml import CParser

    class _LibyamlLoader(_Guarded, CParser, SafeConstructor, Resolver):
        """libyaml's scanner and parser (about 9x faster on large inputs) under the guarded
        Python composer."""

        def __init__(self, stream: str) -> None:
            CParser.__init__(self, stream)
            _Guarded.__init__(self)
            SafeConstructor.__init__(self)
            Resolver.__init__(self)


def _loader(text: str) -> _Guarded:
    return _LibyamlLoader(text) if yaml.__with_libyaml__ else _PythonLoader(text)


def _parse_yaml(text: str, path: Path) -> tuple[dict[str, Any], dict[KeyPath, int]]:
    try:
        loader = _loader(text)  # reads (and checks) the characters here already
        loader.profile_path = path
        try:
            node = loader.get_single_node()
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        problem = exc.problem or exc.context or "invalid YAML"
        raise BadInput(
            f"{where}: invalid YAML: {_printable(problem)}; fix the syntax there"
        ) from None
    except yaml.reader.ReaderError:
        bad = yaml.reader.Reader.NON_PRINTABLE.search(text)
        at = bad.start() if bad else 0
        raise BadInput(
            f"{path}:{text.count(chr(10), 0, at) + 1}: character #x{ord(text[at]):04x} is not "
            "allowed in YAML; remove it"
        ) from None
    except yaml.YAMLError as exc:
        raise BadInput(f"{path}: invalid YAML: {_printable(str(exc))}") from None
    if node is None:
        raise BadInput(f"{path}:1: the profile is empty; it needs at least `version: 1`")
    if not isinstance(node, yaml.MappingNode):
        raise BadInput(
            f"{path}:{node.start_mark.line + 1}: the profile must be a mapping of sections "
            "(version: 1, cargo: …, cq: …)"
        )
    lines: dict[KeyPath, int] = {}
    _index_lines(node, (), lines, path)
    try:
        data = _Constructor("").construct_document(node)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        problem = exc.problem or exc.context or "cannot read this value"
        raise BadInput(f"{where}: {_printable(problem)}; fix the value there") from None
    except _BadValue as exc:  # e.g. a date like 2024-13-45
        raise BadInput(
            f"{path}:{exc.line}: this value cannot be read ({_printable(str(exc.__cause__))}); "
            "fix it there"
        ) from None
    return data, lines


class _BadValue(Exception):
    def __init__(self, line: int) -> None:
        self.line = line


class _Constructor(yaml.SafeLoader):
    """PyYAML raises plain ValueErrors for some scalars (dates, `!!int 'x'`): give them a line."""

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep)
        except (ValueError, OverflowError, TypeError) as exc:
            raise _BadValue(node.start_mark.line + 1) from exc


def _index_lines(node: yaml.Node, at: KeyPath, lines: dict[KeyPath, int], path: Path) -> None:
    """Record the line of every key and item; reject duplicate keys PyYAML would silently merge."""
    lines[at] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                raise BadInput(
                    f"{path}:{key_node.start_mark.line + 1}: {_dotted(at) or '(top level)'}: "
                    "a key must be a plain word, not a list or mapping"
                )
            key = str(key_node.value)
            if key_node.tag != "tag:yaml.org,2002:str":
                kind = key_node.tag.rsplit(":", 1)[-1]
                raise BadInput(
                    f"{path}:{key_node.start_mark.line + 1}: {_dotted((*at, key))}: YAML reads "
                    f'this key as {kind}, not a word; quote it ("{key}") or rename it'
                )
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
    raise BadInput(_printable(_describe(first, lines, path), limit=400))


# Keys an earlier buildkit read, and what to do now: a profile that still has one gets the
# reason, not "unknown key".
REMOVED: dict[KeyPath, str] = {
    ("cq", "shared_target_dir"): (
        "removed: worktrees no longer share a build-dir (it could run another worktree's code); "
        "each builds in its own target/ and compiled units are shared by the compiler cache "
        "(the `cache` section, docs/cq.md); delete this line"
    ),
}


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

    if "x-error" in schema:
        # the schema's own words, never the value: it may hold a secret (cache.remote.location)
        return f"{where}: {key}: {_text(str(schema['x-error']))}; {hint}"
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        known = list(schema.get("properties", {}))
        unknown = [k for k in error.instance if k not in known]
        name = unknown[0] if unknown else "?"
        key_path = (*at, name)
        where = f"{path}:{_line_of(key_path, lines)}"
        if key_path in REMOVED:
            return f"{where}: {_dotted(key_path)}: {REMOVED[key_path]}"
        close = difflib.get_close_matches(str(name), known, n=1)
        suggestion = f"did you mean {close[0]!r}?" if close else f"known keys: {', '.join(known)}"
        return f"{where}: {_dotted(key_path)}: unknown key; {suggestion} ({hint})"
    if error.validator == "type":
        expected = schema.get("type")
        wanted = " or ".join(expected) if isinstance(expected, list) else str(expected)
        return (
            f"{where}: {key}: expected {wanted.replace('null', 'null (empty)')}, "
            f"got {_kind(error.instance)} {_show(error.instance)}; {hint}"
        )
    if error.validator == "enum":
        choices = ", ".join(_show(v) for v in schema.get("enum", []))
        return f"{where}: {key}: {_show(error.instance)} is not one of {choices}; {hint}"
    if error.validator == "pattern":
        return (
            f"{where}: {key}: {_show(error.instance)} does not match the pattern "
            f"{schema.get('pattern')!r}; {hint}"
        )
    if error.validator == "propertyNames":
        return f"{where}: {key}: {error.message}; {hint}"
    if error.validator == "required":
        return f"{where}: {key}: {error.message}; add it ({hint})"
    return f"{where}: {key}: {error.message}; {hint}"


def _text(value: str) -> str:
    return " ".join(value.split())


def _dotted(at: Iterator[str | int] | KeyPath) -> str:
    out = ""
    for part in at:
        name = _printable(str(part))
        out += f"[{part}]" if isinstance(part, int) else (f".{name}" if out else name)
    return out


def _printable(text: str, limit: int = 80) -> str:
    """Text for a one-line message: control characters (newlines…) escaped, length capped."""
    shown = "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
    return shown if len(shown) <= limit else shown[: limit - 3] + "..."


def _kind(value: Any) -> str:
    names = {
        bool: "a boolean",
        int: "an integer",
        float: "a number",
        str: "a string",
        list: "a list",
        dict: "a mapping",
        type(None): "null",
        bytes: "binary data (!!binary)",
        datetime.date: "a date",
        datetime.datetime: "a timestamp",
    }
    return names.get(type(value), type(value).__name__)


def _show(value: Any) -> str:
    """A value as YAML would spell it, never a Python repr (``b'..'``, ``datetime.date(..)``)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, bytes):
        return f"({len(value)} bytes)"
    if isinstance(value, datetime.date):
        return value.isoformat()
    if isinstance(value, str):
        return repr(value)  # quoted as YAML would single-quote it
    if isinstance(value, int | float):
        return str(value)
    return _printable(yaml.safe_dump(value, default_flow_style=True, width=10**6).strip())
