"""The one envelope of every command's ``--json`` output.

Scripts read ``command`` and ``format`` first: each command's format changes only when one of
its keys is renamed or removed or its meaning changes (adding a key keeps it).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

JSON_FORMAT = 1


def json_result(command: str, body: Mapping[str, Any], format: int = JSON_FORMAT) -> dict[str, Any]:
    """``body`` with its command's format version and the command name in front."""
    return {"format": format, "command": command, **body}
