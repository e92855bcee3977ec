"""Locate buildkit's data folders (templates/, ci/, …) from a checkout or a wheel."""

from __future__ import annotations

from pathlib import Path

# The folders at the repository's top level that the package reads at run time (the wheel
# carries them under buildkit/_data). Not to be confused with render/plan.py's FAMILIES, the
# output families that turn a profile into artifacts.
DATA_FOLDERS = ("templates", "ci", "devcontainer", "roles", "playbooks", "plugins")

_PACKAGE_DIR = Path(__file__).resolve().parent


def data_dir(folder: str) -> Path:
    """Return one data folder.

    A wheel carries the folders under ``buildkit/_data``; a checkout (editable install or
    running from the source tree) has them at the repository's top level, two levels up.
    """
    if folder not in DATA_FOLDERS:
        raise ValueError(f"unknown data folder {folder!r}")
    installed = _PACKAGE_DIR / "_data" / folder
    if installed.is_dir():
        return installed
    checkout = _PACKAGE_DIR.parent.parent / folder
    if checkout.is_dir():
        return checkout
    raise FileNotFoundError(f"buildkit's {folder}/ folder is missing from this installation")
