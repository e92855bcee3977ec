"""Environment settings: an owned env file and a marked block in direnv's ``.envrc``."""

from __future__ import annotations

from buildkit.profile import Profile
from buildkit.render import cache_remote, templating
from buildkit.render.ownership import Artifact, ManagedBlock, OwnedFile


def artifacts(profile: Profile) -> list[Artifact]:
    env = profile.model.env
    context = {
        **profile.template_context(),
        "team_cache": cache_remote.env_file_context(profile, "repository"),
    }
    out: list[Artifact] = [
        OwnedFile(path=env.file, body=templating.render("templates", "env.sh.j2", context))
    ]
    if env.direnv:
        out.append(
            ManagedBlock(path=".envrc", body=templating.render("templates", "envrc.j2", context))
        )
    return out
