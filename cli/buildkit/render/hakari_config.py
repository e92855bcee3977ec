"""cargo-hakari's configuration, ``.config/hakari.toml``, from the profile's hakari section."""

from __future__ import annotations

from buildkit.profile import Profile
from buildkit.render import templating
from buildkit.render.ownership import Artifact, OwnedFile, RetiredFile

HAKARI_CONFIG = ".config/hakari.toml"


def artifacts(profile: Profile) -> list[Artifact]:
    if not profile.hakari_enabled:
        return [RetiredFile(path=HAKARI_CONFIG)]
    body = templating.render("templates", "hakari.toml.j2", profile.template_context())
    return [OwnedFile(path=HAKARI_CONFIG, body=body)]
