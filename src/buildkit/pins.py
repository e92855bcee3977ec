"""The one source of pinned versions: ``ci/pins.yaml``.

Action commit SHAs (for the generated workflows) and tool versions (cargo-hakari, whose
``generate --diff`` output depends on its version) live in that file only. Python, the
templates, the ansible role, the devcontainer files and the dev setup all read it from here or
from the file itself, so a laptop, a container, CI and ``buildkit init`` install the same tool.
"""

from __future__ import annotations

import functools
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import yaml

from buildkit.errors import InternalError
from buildkit.resources import data_dir

PINS_FILE = "pins.yaml"
_SHA = re.compile(r"^[0-9a-f]{40}$")


@dataclass(frozen=True)
class Pin:
    """One action at one commit; ``ref`` is the tag (or branch) the commit was taken from."""

    action: str
    sha: str
    ref: str

    def uses(self) -> str:
        return f"{self.action}@{self.sha} # {self.ref}"


@dataclass(frozen=True)
class Pins:
    actions: Mapping[str, Pin]
    tools: Mapping[str, str | None]


@functools.cache
def load_pins(path: Path | None = None) -> Pins:
    """Read ``ci/pins.yaml``; a malformed entry is a packaging bug, reported with its key."""
    path = path or data_dir("ci") / PINS_FILE
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    actions = {}
    for name, entry in data["actions"].items():
        sha = str(entry["sha"])
        if not _SHA.match(sha):
            raise InternalError(
                f"{path}: actions.{name}.sha: {sha!r} is not a full 40-hex commit SHA; "
                "restore it (dev/refresh-action-pins.py rewrites the file)"
            )
        actions[name] = Pin(action=name, sha=sha, ref=str(entry["ref"]))
    tools = {name: (None if v is None else str(v)) for name, v in data.get("tools", {}).items()}
    return Pins(actions=actions, tools=tools)


def pinned_tool(name: str) -> str:
    """The version ``ci/pins.yaml`` pins for a tool; a missing pin is a packaging bug."""
    version = load_pins().tools.get(name)
    if version is None:
        raise InternalError(f"{data_dir('ci') / PINS_FILE}: tools.{name} has no pinned version")
    return version


def main(argv: list[str]) -> int:
    """``python -m buildkit.pins TOOL`` prints the pinned version (for dev/setup.d)."""
    if len(argv) != 1:
        print("usage: python -m buildkit.pins TOOL", file=sys.stderr)
        return 2
    print(pinned_tool(argv[0]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
