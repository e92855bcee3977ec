"""The one envelope of every command's ``--json`` output.

Scripts read ``format`` first: it changes only when a key is renamed or removed or its meaning
changes (adding a key keeps it). ``command`` says which command wrote the object.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

JSON_FORMAT = 1


def json_result(command: str, body: Mapping[str, Any]) -> dict[str, Any]:
    """``body`` with the format version and the command name in front."""
    return {"format": JSON_FORMAT, "command": command, **body}
