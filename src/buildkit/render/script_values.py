"""Profile values in a plain shell script: the lines between two marker lines.

buildkit's scripts (cq, the rustc wrapper) are committed as they run: shellcheck reads them as
they are, and no template engine touches their code. Their profile values sit between
``# >>> profile values >>>`` and ``# <<< profile values <<<``; rendering replaces only the
``name=value`` lines there, each value already a shell word.
"""

from __future__ import annotations

from collections.abc import Mapping

from buildkit.errors import InternalError
from buildkit.resources import data_dir

VALUES_BEGIN = "# >>> profile values >>>\n"
VALUES_END = "# <<< profile values <<<\n"


def fill(source: str, values: Mapping[str, str]) -> str:
    """templates/SOURCE with each ``name=`` line between the markers set to ``values[name]``;
    a missing marker or a value without its line is a packaging bug."""
    text = (data_dir("templates") / source).read_text(encoding="utf-8")
    head, found, rest = text.partition(VALUES_BEGIN)
    block, found_end, tail = rest.partition(VALUES_END)
    if not found or not found_end:
        raise InternalError(f"templates/{source}: its profile-values markers are missing")
    left = dict(values)
    lines = []
    for line in block.splitlines(keepends=True):
        name = line.split("=", 1)[0]
        if not line.startswith("#") and name in left:
            line = f"{name}={left.pop(name)}\n"
        lines.append(line)
    if left:
        raise InternalError(
            f"templates/{source}: no line for {', '.join(left)} between its markers"
        )
    return head + VALUES_BEGIN + "".join(lines) + VALUES_END + tail
