"""Merged JSON: buildkit's hook entries inside a user's Claude Code settings file.

Only buildkit's entries are buildkit's: groups under ``hooks.<Event>`` (``{"matcher": …,
"hooks": [{"type": "command", "command": …}]}``) whose commands end in a
``# buildkit: <checksum>`` shell comment. The checksum covers the group as buildkit wrote it,
so a hand edit is detectable with no state outside the file and no key Claude Code does not
know. Everything else (the user's hooks, permissions, other keys, their order) is kept as
parsed; the file's bytes are kept whenever buildkit's part is already up to date, and
otherwise when the file is laid out as Claude Code writes it (``JSON.stringify`` with the
indent the file already uses). docs/agents.md says exactly what is preserved.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from buildkit.errors import BadInput
from buildkit.render.ownership import checksum

MARK = " # buildkit: "
_MARKED = re.compile(r" # buildkit: ([0-9a-f]{16})$")


@dataclass(frozen=True)
class HookGroup:
    """One matcher group buildkit adds under ``hooks.<event>``."""

    event: str
    group: dict[str, Any]

    def marked(self) -> dict[str, Any]:
        """The group with every command carrying the checksum of the unmarked group."""
        mark = MARK + _group_checksum(self.group)
        hooks = [{**hook, "command": hook["command"] + mark} for hook in self.group["hooks"]]
        return {**self.group, "hooks": hooks}


@dataclass(frozen=True)
class MergedJson:
    """buildkit's hook groups merged into a user's JSON settings file."""

    path: str
    groups: tuple[HookGroup, ...]
    executable: bool = False
    ownership: str = field(default="merged", init=False)
    # Paths buildkit adds to ``sandbox.filesystem.allowWrite`` (a JSON list cannot carry a
    # mark: an entry equal to one of buildkit's paths is buildkit's), and the paths it may
    # have added before and removes when they are no longer wanted.
    allow_write: tuple[str, ...] = ()
    known_allow_write: tuple[str, ...] = ()

    def render(self, current: str | None) -> str | None:
        if current is None and not self.groups and not self.allow_write:
            return None
        data = self._parse(current) if current is not None else {}
        before = json.loads(json.dumps(data))
        hooks = data.get("hooks")
        if hooks is not None and not isinstance(hooks, dict):
            raise BadInput(f"{self.path}: `hooks` must be a JSON object; fix it, then render again")
        emptied = _remove_ours(hooks or {})
        removed_all = bool(emptied)
        for added in self.groups:
            data.setdefault("hooks", {}).setdefault(added.event, []).append(added.marked())
            emptied.discard(added.event)
        for event in emptied:  # lists only buildkit's groups were in
            del data["hooks"][event]
        if removed_all and not data.get("hooks", True):
            del data["hooks"]
        self._merge_allow_write(data)
        if current is not None and data == before:
            return current
        return _dump(data, current)

    def user_edited(self, current: str) -> bool:
        data = self._parse(current)
        hooks = data.get("hooks")
        if not isinstance(hooks, dict):
            return False
        for groups in hooks.values():
            for group in groups if isinstance(groups, list) else []:
                if _is_ours(group) and not _intact(group):
                    return True
        return False

    def _merge_allow_write(self, data: dict[str, Any]) -> None:
        """buildkit's paths at the end of ``sandbox.filesystem.allowWrite``, the user's kept;
        containers left empty by removing buildkit's paths go too."""
        chain: list[dict[str, Any]] = [data]
        for key in ("sandbox", "filesystem"):
            node = chain[-1].get(key)
            if node is None and not self.allow_write:
                return
            if node is None:
                node = chain[-1][key] = {}
            if not isinstance(node, dict):
                raise BadInput(
                    f"{self.path}: `{key}` must be a JSON object (sandbox.filesystem.allowWrite "
                    "is set inside it); fix it, then render again"
                )
            chain.append(node)
        paths = chain[-1].get("allowWrite")
        if paths is None and not self.allow_write:
            return
        if paths is None:
            paths = chain[-1]["allowWrite"] = []
        if not isinstance(paths, list):
            raise BadInput(
                f"{self.path}: sandbox.filesystem.allowWrite must be a JSON list of paths; "
                "fix it, then render again"
            )
        stale = set(self.known_allow_write) - set(self.allow_write)
        before = len(paths)
        paths[:] = [p for p in paths if p not in stale]
        paths.extend(p for p in self.allow_write if p not in paths)
        if paths or len(paths) == before:
            return
        for parent, key in ((chain[2], "allowWrite"), (chain[1], "filesystem"), (data, "sandbox")):
            if not parent[key]:
                del parent[key]

    def _parse(self, text: str) -> dict[str, Any]:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise BadInput(
                f"{self.path}:{exc.lineno}: invalid JSON ({exc.msg}); fix it, then render again"
            ) from None
        if not isinstance(data, dict):
            raise BadInput(f"{self.path}:1: must hold a JSON object; fix it, then render again")
        return data


def _group_checksum(group: dict[str, Any]) -> str:
    return checksum(json.dumps(group, sort_keys=True, ensure_ascii=False))


def _commands(group: Any) -> list[str]:
    if not isinstance(group, dict) or not isinstance(group.get("hooks"), list):
        return []
    return [
        h["command"]
        for h in group["hooks"]
        if isinstance(h, dict) and isinstance(h.get("command"), str)
    ]


def _is_ours(group: Any) -> bool:
    return any(MARK in command for command in _commands(group))


def _intact(group: dict[str, Any]) -> bool:
    """True when every command carries the checksum of the group without the marks."""
    found = set()
    unmarked = []
    for hook in group["hooks"]:
        match = _MARKED.search(hook.get("command", "")) if isinstance(hook, dict) else None
        if match is None:
            return False
        found.add(match.group(1))
        unmarked.append({**hook, "command": hook["command"][: match.start()]})
    return len(found) == 1 and found == {_group_checksum({**group, "hooks": unmarked})}


def _remove_ours(hooks: dict[str, Any]) -> set[str]:
    """Drop buildkit's groups; return the events whose list that left empty."""
    emptied = set()
    for event, groups in hooks.items():
        if not isinstance(groups, list):
            continue
        kept = [group for group in groups if not _is_ours(group)]
        if len(kept) != len(groups):
            groups[:] = kept
            if not kept:
                emptied.add(event)
    return emptied


def _dump(data: dict[str, Any], current: str | None) -> str:
    """JSON laid out as Claude Code writes it, in the indent the file already uses."""
    indent: str | int = 2
    if current is not None:
        match = re.search(r"^[{\[][ \t]*\n([ \t]+)\S", current, re.M)
        if match:
            indent = match.group(1) if "\t" in match.group(1) else len(match.group(1))
    text = json.dumps(data, indent=indent, ensure_ascii=False)
    newline = current is None or current.endswith("\n")
    return text + "\n" if newline else text
