"""Where the ``buildkit check`` job of the generated workflow installs buildkit from.

It must install exactly the buildkit that rendered the workflow, from a place a CI runner can
reach: the published distribution when this version is on PyPI, otherwise a pinned source the
profile names (``ci.buildkit_source``: a git URL at a commit, or a wheel URL). Never a
``buildkit-rs==X`` that no index has. ``buildkit init`` fills the source in from pip's record
of where this buildkit came from (PEP 610's ``direct_url.json``) when that is such a URL.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from importlib import metadata

from buildkit import DISTRIBUTION, __version__

# Versions of buildkit-rs on PyPI. None yet: a release adds its version here in the commit it
# is built from, so only a published buildkit renders `pip install buildkit-rs==<version>`.
PUBLISHED_VERSIONS: frozenset[str] = frozenset()
SOURCE_EXAMPLE = "git+https://HOST/OWNER/buildkit@<40-hex commit>"


def requirement(source: str, version: str = __version__) -> str | None:
    """What pip installs in the job: the pinned source, else the published release, else
    None (then there is no job)."""
    if source:
        return f"{DISTRIBUTION} @ {source}"
    if version in PUBLISHED_VERSIONS:
        return f"{DISTRIBUTION}=={version}"
    return None


@dataclass(frozen=True)
class CheckJobChoice:
    """What init chose for the ``buildkit check`` job, and the line that says why."""

    source: str  # for ci.buildkit_source ("" when none)
    line: str


def choose(search_path: list[str] | None = None, version: str = __version__) -> CheckJobChoice:
    installed = installed_source(search_path)
    if installed:
        return CheckJobChoice(
            installed,
            f"chose: ci.buildkit_source: {installed}: this buildkit was installed from it (pip's "
            "direct_url.json), so the `buildkit check` job installs the same buildkit",
        )
    if version in PUBLISHED_VERSIONS:
        return CheckJobChoice(
            "",
            f"chose: the `buildkit check` job installs {DISTRIBUTION}=={version} from PyPI, the "
            "published release of this buildkit",
        )
    return CheckJobChoice(
        "",
        f"chose: no `buildkit check` job: {DISTRIBUTION} {version} is not published on any "
        "index and this buildkit was not installed from a pinned source; set "
        f"ci.buildkit_source: {SOURCE_EXAMPLE} (or an https wheel URL) to add it",
    )


def installed_source(search_path: list[str] | None = None) -> str | None:
    """``git+https://…@<commit>`` or an https wheel URL when pip installed buildkit from one,
    else None (an index, a local path: nothing a CI runner can install again exactly)."""
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
    url = str(data.get("url", ""))
    if not url.startswith("https://"):
        return None
    vcs = data.get("vcs_info") or {}
    commit = str(vcs.get("commit_id", ""))
    if vcs.get("vcs") == "git" and re.fullmatch(r"[0-9a-f]{40}", commit):
        return f"git+{url}@{commit}"
    archive = data.get("archive_info")
    if isinstance(archive, dict) and url.endswith(".whl"):
        digest = str((archive.get("hashes") or {}).get("sha256", ""))
        return f"{url}#sha256={digest}" if re.fullmatch(r"[0-9a-f]{64}", digest) else url
    return None


def _normalized(name: str) -> str:
    """PEP 503: case, dots and underscores do not distinguish distribution names."""
    return re.sub(r"[-_.]+", "-", name or "").lower()
