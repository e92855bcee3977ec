"""Keep the profile's detected workspace facts current without touching the rest of the file."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

_TOP_LEVEL_KEY = re.compile(r"^[A-Za-z_][\w-]*\s*:")


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


def replace_workspace_section(text: str, detected: Mapping[str, Any]) -> str:
    """Swap the top-level ``workspace:`` block for the detected facts; keep every other line.

    The section is written by ``buildkit init`` from ``cargo metadata``; comments elsewhere in
    the profile are the user's and must survive, so this edits text rather than re-dumping YAML.
    """
    block = yaml.safe_dump({"workspace": dict(detected)}, sort_keys=False, default_flow_style=False)
    lines = text.splitlines(keepends=True)
    start = next((i for i, line in enumerate(lines) if line.startswith("workspace:")), None)
    if start is None:
        after_version = next(
            (i + 1 for i, line in enumerate(lines) if line.startswith("version:")), len(lines)
        )
        return "".join(lines[:after_version]) + block + "".join(lines[after_version:])
    end = start + 1
    while end < len(lines) and not _TOP_LEVEL_KEY.match(lines[end]):
        end += 1
    # Keep comment lines and blank lines that introduce the next section.
    while end - 1 > start and (lines[end - 1].startswith("#") or not lines[end - 1].strip()):
        end -= 1
    return "".join(lines[:start]) + block + "".join(lines[end:])


@dataclass(frozen=True)
class ProfileFile:
    """``buildkit.yaml`` itself as an artifact: created by init, its workspace facts refreshed.

    Only the ``workspace`` section is ever rewritten (it is detected, not chosen); every other
    line is the user's.
    """

    path: str
    text: str
    executable: bool = False
    ownership: str = field(default="profile", init=False)

    def render(self, current: str | None) -> str:
        return self.text

    def user_edited(self, current: str) -> bool:
        return False
