"""Generate the typed profile (``model.py``) from the schema, so the two cannot disagree.

The schema stays the one source of keys, types, value lists and defaults; the model is its
typed view for Python (a misspelled key is a mypy error, an enum is a ``Literal``). A test fails
when the committed model is stale. Regenerate with:

    python -m buildkit.profile.codegen --write
"""

from __future__ import annotations

import json
import keyword
import sys
import textwrap
from pathlib import Path
from typing import Any

from buildkit.profile.schema import SECTIONS, profile_schema

_SCALARS = {"string": "str", "integer": "int", "boolean": "bool", "null": "None", "number": "float"}


def _class_name(*parts: str) -> str:
    return "".join(word.capitalize() for part in parts for word in part.split("_"))


def _field_name(key: str) -> str:
    if not key.isidentifier() or keyword.iskeyword(key):
        raise ValueError(f"profile key {key!r} is not a Python identifier; rename it in the schema")
    return key


def _docstring(text: str, name: str) -> list[str]:
    words = " ".join(text.split()) or name
    lines = textwrap.wrap(words, width=92)
    if len(lines) == 1:
        return [f'    """{lines[0]}"""']
    return [f'    """{lines[0]}', *(f"    {line}" for line in lines[1:]), '    """']


class _Generator:
    def __init__(self) -> None:
        self.aliases: list[str] = []
        self.classes: list[str] = []

    def literal(self, values: list[str], owner: tuple[str, ...]) -> str:
        """A named ``Literal`` alias; exploded with a magic trailing comma when long, as ruff
        formats it, so the generated file is ruff-clean as printed."""
        name = _class_name(*owner)
        quoted = [json.dumps(v) for v in values]
        one_line = f"{name} = Literal[{', '.join(quoted)}]"
        if len(one_line) <= 100:
            self.aliases.append(one_line)
        else:
            self.aliases.append(
                "\n".join([f"{name} = Literal[", *(f"    {q}," for q in quoted), "]"])
            )
        return name

    def annotation(self, schema: dict[str, Any], owner: tuple[str, ...]) -> str:
        """The Python type of a value the (validated) schema admits."""
        if "enum" in schema:
            literals = [v for v in schema["enum"] if isinstance(v, str)]
            others = {type(v).__name__ for v in schema["enum"] if not isinstance(v, str)}
            parts = [self.literal(literals, owner)] if literals else []
            parts += [t for t in ("bool", "int") if t in others]
            parts += ["None"] if "NoneType" in others else []
            return " | ".join(parts)
        types = schema.get("type", "string")
        types = types if isinstance(types, list) else [types]
        parts = []
        for kind in types:
            if kind == "array":
                item = self.annotation(schema.get("items", {}), owner)
                parts.append(f"tuple[{item}, ...]")
            elif kind == "object" and "properties" in schema:
                parts.append(self.dataclass(schema, owner))
            elif kind == "object":
                value = self.annotation(schema.get("additionalProperties") or {}, owner)
                parts.append(f"Mapping[str, {value}]")
            else:
                parts.append(_SCALARS[kind])
        return " | ".join(parts)

    def dataclass(self, schema: dict[str, Any], owner: tuple[str, ...], suffix: str = "") -> str:
        name = _class_name(*owner) + suffix
        lines = ["", "", "@dataclass(frozen=True)", f"class {name}:"]
        lines += _docstring(str(schema.get("description", "")), name)
        lines.append("")
        for key, sub in schema["properties"].items():
            item = key.removesuffix("s") if sub.get("type") == "array" else key
            kind = self.annotation(sub, (*owner, item))
            lines.append(f"    {_field_name(key)}: {kind}")
        self.classes.append("\n".join(lines))
        return name


def generate() -> str:
    schema = profile_schema()
    generator = _Generator()
    sections = {
        section: generator.dataclass(schema["properties"][section], (section,), "Section")
        for section in SECTIONS
    }
    root = ["", "", "@dataclass(frozen=True)", "class ProfileModel:"]
    root.append('    """The whole profile, every default filled in."""')
    root.append("")
    root.append("    version: int")
    root += [f"    {section}: {name}" for section, name in sections.items()]
    header = [
        '"""The typed profile, generated from the schema by',
        "``python -m buildkit.profile.codegen``; do not edit (tests/core/test_profile_model.py",
        'fails when it is stale)."""',
        "",
        "from __future__ import annotations",
        "",
        "from collections.abc import Mapping",
        "from dataclasses import dataclass",
        "from typing import Literal",
        "",
    ]
    body = header + generator.aliases + generator.classes + root
    return "\n".join(body) + "\n"


MODEL_FILE = Path(__file__).resolve().parent / "model.py"


def main(argv: list[str]) -> int:
    """Print the model, or with ``--write`` replace model.py (a shell redirect would empty the
    file this very import chain reads before the generator runs)."""
    text = generate()
    if argv == ["--write"]:
        MODEL_FILE.write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
