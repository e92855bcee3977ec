"""Where this buildkit was installed from, so the generated CI installs the same one.

pip records a direct install (a VCS URL, an archive, a local path) in the distribution's
``direct_url.json`` (PEP 610). Only a git URL over https pinned to a commit is something a CI
runner can install again exactly; anything else gives None and the user chooses.
"""

from __future__ import annotations

import json
import re
from importlib import metadata

from buildkit import DISTRIBUTION


def pinned_requirement(search_path: list[str] | None = None) -> str | None:
    """``buildkit-rs @ git+https://…@<commit>`` when buildkit came from such a URL, else None."""
    candidates = (
        metadata.distributions(path=search_path) if search_path else metadata.distributions()
    )
    found = [d for d in candidates if _normalized(d.name) == DISTRIBUTION]
    if not found:
        return None
    text = found[0].read_text("direct_url.json")
    if not text:
        return None
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        return None
    vcs = data.get("vcs_info") or {}
    url = str(data.get("url", ""))
    commit = str(vcs.get("commit_id", ""))
    if vcs.get("vcs") == "git" and url.startswith("https://") and commit.isalnum():
        return f"{DISTRIBUTION} @ git+{url}@{commit}"
    return None


def _normalized(name: str) -> str:
    """PEP 503: case, dots and underscores do not distinguish distribution names."""
    return re.sub(r"[-_.]+", "-", name or "").lower()
