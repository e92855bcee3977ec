"""Jinja environments over the output families, configured like ansible's template module.

The templates use Jinja's built-in filters plus ``quote``, ``to_json``, ``dirname`` and
``basename`` (ansible's names, with the same meaning), with ``trim_blocks`` on and trailing
newlines kept, as ansible renders them. Only buildkit renders them: the ansible role writes
the files ``buildkit provision`` computed.

The ``ci`` folder holds GitHub Actions workflow templates, full of GitHub's own ``${{ … }}``
expressions: its environment keeps those settings but uses other delimiters (``[[ … ]]``,
``[% … %]``, ``[# … #]``, plus ``lstrip_blocks`` so indented tags leave no whitespace), so a
workflow expression passes through untouched and needs no ``{% raw %}``.
"""

from __future__ import annotations

import functools
import json
import os.path
import shlex
from typing import Any

import jinja2

from buildkit.resources import data_dir


def _to_json(value: Any) -> str:
    return json.dumps(value)


# Families whose output has its own ``{{ }}`` syntax get delimiters that cannot collide with it.
_SYNTAX: dict[str, dict[str, Any]] = {
    "ci": {
        "variable_start_string": "[[",
        "variable_end_string": "]]",
        "block_start_string": "[%",
        "block_end_string": "%]",
        "comment_start_string": "[#",
        "comment_end_string": "#]",
        "lstrip_blocks": True,
    },
}


@functools.cache
def environment(folder: str = "templates") -> jinja2.Environment:
    """The Jinja environment for one data folder (``templates``, ``devcontainer``, …)."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(data_dir(folder))),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,  # noqa: S701 - renders shell, TOML and YAML, never HTML
        **_SYNTAX.get(folder, {}),
    )
    env.filters["quote"] = shlex.quote
    env.filters["to_json"] = _to_json
    env.filters["dirname"] = os.path.dirname
    env.filters["basename"] = os.path.basename
    return env


def render(folder: str, name: str, context: dict[str, Any]) -> str:
    return environment(folder).get_template(name).render(**context)
