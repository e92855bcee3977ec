"""Keep the profile's detected workspace facts current without touching the rest of the file.

The ``workspace`` section is buildkit's record of what ``cargo metadata`` reports; a comment
line with a checksum of it sits above it. A stale section is re-emitted as a whole block at the
place the YAML parser finds it; a section whose values no longer match the checksum was
edited by hand and is refused like any other edited part buildkit owns, unless ``--force``.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

from buildkit.errors import BadInput
from buildkit.render.ownership import ConflictKind, KeyConflict

PROFILE = "buildkit.yaml"


def workspace_changes(recorded: Mapping[str, Any], detected: Mapping[str, Any]) -> list[str]:
    """Human-readable differences between the recorded and the detected workspace facts."""
    changes = []
    old = {m["name"]: m for m in recorded.get("members", [])}
    new = {m["name"]: m for m in detected.get("members", [])}
    changes += [f"member {name} added" for name in new if name not in old]
    changes += [f"member {name} removed" for name in old if name not in new]
    for name in new.keys() & old.keys():
        if new[name]["path"] != old[name]["path"]:
            changes.append(f"member {name} moved to {new[name]['path']}")
        if list(new[name].get("features", [])) != list(old[name].get("features", [])):
            changes.append(f"features of {name} changed")
    if recorded.get("kind") != detected.get("kind"):
        changes.append(f"kind is now {detected.get('kind')}")
    if list(recorded.get("default_members", [])) != list(detected.get("default_members", [])):
        changes.append("default members changed")
    return sorted(changes)


FACTS_MARK = "# buildkit: workspace facts"
# The comment line above the recorded section: its checksum is of the facts as YAML reads them,
# so quoting, flow style or indentation are no edit, and a changed value is.
_MARK_LINE = re.compile(r"^# buildkit: workspace facts\b.*$\n?", re.M)
_MARK_SUM = re.compile(r"^# buildkit: workspace facts\b.*\(checksum ([0-9a-f]{12})\)\s*$", re.M)


def facts_checksum(section: Any) -> str:
    canonical = json.dumps(section, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:12]


def facts_mark(section: Mapping[str, Any]) -> str:
    return (
        f"{FACTS_MARK} (cargo metadata); render refreshes them, refuses hand edits "
        f"(checksum {facts_checksum(dict(section))})\n"
    )


@dataclass(frozen=True)
class _Span:
    """Where the top-level ``workspace`` key and its value are in the text (offsets)."""

    start: int
    end: int


def _workspace_span(text: str) -> _Span | None:
    """The ``workspace`` entry of the top-level mapping, found by the YAML parser (so a quoted
    key or a flow-style value is found as surely as a plain block); None when there is none."""
    try:
        root = yaml.compose(text)
    except yaml.YAMLError as exc:
        raise BadInput(f"{PROFILE}: not valid YAML ({exc}); fix it, then run again") from None
    if not isinstance(root, yaml.MappingNode):
        return None
    for key, value in root.value:
        if not (isinstance(key, yaml.ScalarNode) and key.value == "workspace"):
            continue
        if root.flow_style or key.start_mark.column != 0:
            raise BadInput(
                f"{PROFILE}:{key.start_mark.line + 1}: workspace: buildkit rewrites this section "
                "when the workspace changes and can do so only in a block-style top level; "
                "write the file's top-level keys one per line (`version: 1`, `workspace: …`)"
            )
        start, end = key.start_mark.index, value.end_mark.index
        # A block value ends where the next key starts: the comments and blank lines before
        # that key introduce it and stay.
        lines = text[start:end].splitlines(keepends=True)
        while len(lines) > 1 and (not lines[-1].strip() or lines[-1].lstrip().startswith("#")):
            end -= len(lines.pop())
        # A flow value ends mid-line: the line's rest is nothing, or a comment that stays.
        if end < len(text) and text[end - 1] != "\n":
            newline = text.find("\n", end)
            rest_end = len(text) if newline == -1 else newline + 1
            if not text[end:rest_end].strip():
                end = rest_end
        return _Span(start, end)
    return None


def recorded_facts(text: str) -> tuple[bool, Any]:
    """Whether the profile text records workspace facts, and the section as YAML reads it."""
    data = yaml.safe_load(text)
    if not isinstance(data, dict) or "workspace" not in data:
        return False, None
    return True, data["workspace"]


def facts_edited(text: str) -> bool:
    """The recorded section is not as buildkit wrote it: no mark (the user wrote it, or an
    older buildkit did) or its values no longer match the mark's checksum."""
    present, section = recorded_facts(text)
    if not present:
        return False
    mark = _MARK_SUM.search(text)
    return mark is None or mark.group(1) != facts_checksum(section)


def record_workspace_section(text: str, detected: Mapping[str, Any]) -> str:
    """The profile with its ``workspace`` section (written any way YAML allows) replaced by the
    detected facts as one block under buildkit's mark; every other byte stays the user's."""
    text = _MARK_LINE.sub("", text)
    block = facts_mark(detected) + yaml.safe_dump(
        {"workspace": dict(detected)}, sort_keys=False, default_flow_style=False
    )
    span = _workspace_span(text)
    if span is not None:
        tail = text[span.end :]
        if text[span.end - 1 : span.end] != "\n":
            tail = tail.lstrip(" ")  # a comment that followed a flow value: its own line now
        return text[: span.start] + block + tail
    lines = text.splitlines(keepends=True)
    after_version = next(
        (i + 1 for i, line in enumerate(lines) if line.startswith("version:")), len(lines)
    )
    return "".join(lines[:after_version]) + block + "".join(lines[after_version:])


@dataclass(frozen=True)
class ProfileFile:
    """``buildkit.yaml`` itself as an artifact: created by init, its workspace facts refreshed.

    Only the ``workspace`` section is ever rewritten (it is detected, not chosen), and only
    while it is as buildkit recorded it: a hand edit there is refused like an edit of any
    other part buildkit owns, unless ``--force``. Every other byte is the user's.
    """

    path: str
    text: str
    executable: bool = False
    ownership: str = field(default="profile", init=False)

    def render(self, current: str | None) -> str:
        return self.text

    def user_edited(self, current: str) -> bool:
        return False  # the file is the user's; only its recorded section is checked (below)

    def conflicts(self, current: str) -> list[KeyConflict]:
        if not facts_edited(current):
            return []
        return [
            KeyConflict(
                "workspace: the recorded facts were edited by hand (or written without "
                "buildkit's checksum line)",
                ConflictKind.FACTS,
                "workspace",
            )
        ]
