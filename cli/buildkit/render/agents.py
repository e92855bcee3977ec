"""Coding agents: the ``cargo`` shim that sends cargo through cq, and the build instructions
agents read from ``AGENTS.md`` and ``CLAUDE.md`` (docs/agents.md)."""

from __future__ import annotations

import posixpath

from buildkit.profile import Profile
from buildkit.render import templating
from buildkit.render.ownership import Artifact, ManagedBlock, OwnedFile, RetiredFile

# The instructions are a marked block in each file; the rest of the file stays the user's.
INSTRUCTION_FILES = {"agents_md": "AGENTS.md", "claude_md": "CLAUDE.md"}


def shim_enabled(profile: Profile) -> bool:
    """The shim needs cq: without it there is no queue to send cargo to."""
    return bool(profile.section("agents")["shim_cargo"] and profile.section("cq")["enabled"])


def shim_path(profile: Profile) -> str:
    return posixpath.join(profile.section("agents")["shim_dir"], "cargo")


def artifacts(profile: Profile) -> list[Artifact]:
    out = [_shim(profile)]
    if profile.section("cq")["enabled"]:
        out.extend(_instructions(profile))
    return out


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


def _instructions(profile: Profile) -> list[Artifact]:
    agents = profile.section("agents")
    context = profile.template_context()
    context["profile"]["agents"] = {**agents, "shim_cargo": shim_enabled(profile)}
    body = templating.render("templates", "agent-instructions.md.j2", context)
    return [
        ManagedBlock(path=path, body=body, comment="<!--", comment_end=" -->")
        for switch, path in INSTRUCTION_FILES.items()
        if agents[switch]
    ]
