"""Locate the top-level output families (templates/, ci/, …) from a checkout or a wheel."""

from __future__ import annotations

from pathlib import Path

FAMILIES = ("templates", "ci", "devcontainer", "roles", "playbooks")

_PACKAGE_DIR = Path(__file__).resolve().parent


def data_dir(family: str) -> Path:
    """Return the folder of one output family.

    A wheel carries the families under ``buildkit/_data``; a checkout (editable install or
    running from the source tree) has them at the repository's top level, two levels up.
    """
    if family not in FAMILIES:
        raise ValueError(f"unknown data family {family!r}")
    installed = _PACKAGE_DIR / "_data" / family
    if installed.is_dir():
        return installed
    checkout = _PACKAGE_DIR.parent.parent / family
    if checkout.is_dir():
        return checkout
    raise FileNotFoundError(f"buildkit's {family}/ folder is missing from this installation")
