"""Coding agents: the ``cargo`` shim that sends cargo through cq (docs/agents.md)."""

from __future__ import annotations

import posixpath

from buildkit.profile import Profile
from buildkit.render import templating
from buildkit.render.ownership import Artifact, OwnedFile, RetiredFile


def shim_enabled(profile: Profile) -> bool:
    """The shim needs cq: without it there is no queue to send cargo to."""
    return bool(profile.section("agents")["shim_cargo"] and profile.section("cq")["enabled"])


def shim_path(profile: Profile) -> str:
    return posixpath.join(profile.section("agents")["shim_dir"], "cargo")


def artifacts(profile: Profile) -> list[Artifact]:
    return [_shim(profile)]


def _shim(profile: Profile) -> Artifact:
    path = shim_path(profile)
    if not shim_enabled(profile):
        return RetiredFile(path=path, executable=True)
    context = {
        **profile.template_context(),
        "cq_from_shim": posixpath.relpath(
            profile.section("cq")["path"], profile.section("agents")["shim_dir"]
        ),
    }
    body = templating.render("templates", "cargo-shim.sh.j2", context)
    return OwnedFile(path=path, body=body, executable=True)
