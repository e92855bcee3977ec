"""The devcontainer: ``.devcontainer/devcontainer.json`` and its Dockerfile, and on request a
Dev Container Feature (``.devcontainer/buildkit-feature/``) for a devcontainer of the user's own.

devcontainer.json is JSON with comments (the spec's own format, and what the devcontainer CLI,
VS Code and Codespaces read), so it carries buildkit's usual header as ``//`` comments; the body
after the header is plain JSON, checked here before anything is written.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any

from buildkit.errors import BadInput
from buildkit.profile import Profile
from buildkit.render import admission, cache, cache_remote, templating
from buildkit.render.cargo_config import cargo_settings
from buildkit.render.cq import render_cq
from buildkit.render.ownership import (
    GENERATED,
    Artifact,
    ManagedKey,
    MergedToml,
    OwnedFile,
    RetiredFile,
)

FOLDER = ".devcontainer"
CONFIG = f"{FOLDER}/devcontainer.json"
DOCKERFILE = f"{FOLDER}/Dockerfile"
FEATURE = f"{FOLDER}/buildkit-feature"
FEATURE_CONFIG = f"{FEATURE}/devcontainer-feature.json"
FEATURE_INSTALL = f"{FEATURE}/install.sh"
FEATURE_CQ = f"{FEATURE}/cq"
FEATURE_CARGO = f"{FEATURE}/cargo-config.toml"
FEATURE_WRAPPER = f"{FEATURE}/rustc-wrapper"
FEATURE_RUNNER = f"{FEATURE}/runner"
FEATURE_RUSTDOC = f"{FEATURE}/rustdoc"
# where install.sh puts the wrapper, runner and rustdoc in the image (not on PATH), for every
# cargo there
CONTAINER_LIBEXEC = "/usr/local/libexec/buildkit"
JSON_COMMENT = "//"


def artifacts(profile: Profile) -> list[Artifact]:
    context = {**profile.template_context(), **cache_context(profile)}
    _check_env(profile)
    out: list[Artifact] = []
    if profile.model.devcontainer.enabled:
        config = _json("devcontainer.json.j2", context, CONFIG)
        out += [
            OwnedFile(path=CONFIG, body=config, comment=JSON_COMMENT),
            OwnedFile(path=DOCKERFILE, body=_render("Dockerfile.j2", context)),
        ]
    else:
        out += [_Retired(path=CONFIG, comment=JSON_COMMENT), _Retired(path=DOCKERFILE)]
    out += _feature(profile, context)
    return out


def _feature(profile: Profile, context: dict[str, Any]) -> list[Artifact]:
    if not profile.model.devcontainer.feature:
        return [
            _Retired(path=FEATURE_CONFIG, comment=JSON_COMMENT),
            _Retired(path=FEATURE_INSTALL, executable=True),
            _Retired(path=FEATURE_CQ, executable=True),
            _Retired(path=FEATURE_CARGO),
            _Retired(path=FEATURE_WRAPPER, executable=True),
            _Retired(path=FEATURE_RUNNER, executable=True),
            _Retired(path=FEATURE_RUSTDOC, executable=True),
        ]
    out: list[Artifact] = [
        OwnedFile(
            path=FEATURE_CONFIG,
            body=_json("feature/devcontainer-feature.json.j2", context, FEATURE_CONFIG),
            comment=JSON_COMMENT,
        ),
        OwnedFile(
            path=FEATURE_INSTALL, body=_render("feature/install.sh", context), executable=True
        ),
    ]
    # The Feature's build sees only its own folder, so it carries what the renderer produced:
    # the cargo keys (install.sh copies them, it derives nothing) and its own copy of cq.
    keys = container_cargo_text(profile)
    out.append(OwnedFile(path=FEATURE_CARGO, body=keys) if keys else _Retired(path=FEATURE_CARGO))
    if profile.model.cq.enabled:
        cq = render_cq(profile)
        out.append(OwnedFile(path=FEATURE_CQ, body=cq, executable=True))
    else:
        out.append(_Retired(path=FEATURE_CQ, executable=True))
    # The rustc wrapper (compiler cache, CPU budget), the budget's runner and rustdoc, byte for
    # byte the repository's, for every cargo in the container: the laptop's arrangement
    # (render/home.py).
    if cache.wrapper_wanted(profile):
        body = cache.render_wrapper(profile)
        out.append(OwnedFile(path=FEATURE_WRAPPER, body=body, executable=True))
    else:
        out.append(_Retired(path=FEATURE_WRAPPER, executable=True))
    for wanted, path, source in (
        (admission.runner_wanted(profile), FEATURE_RUNNER, admission.SOURCE),
        (admission.rustdoc_wanted(profile), FEATURE_RUSTDOC, admission.RUSTDOC_SOURCE),
    ):
        if wanted:
            out.append(OwnedFile(path=path, body=admission.script(source), executable=True))
        else:
            out.append(_Retired(path=path, executable=True))
    return out


def cache_context(profile: Profile) -> dict[str, Any]:
    """The compiler cache in the container: the pinned engine for the image, and the team
    cache's mode there with the names of its credentials (passed from the host by name)."""
    team = cache_remote.remote(profile)
    return {
        "sccache_version": cache.sccache_version()
        if profile.model.cache.engine == "sccache"
        else None,
        "team_cache": None
        if team is None
        else {
            "mode_variable": cache_remote.MODE_VARIABLE,
            "mode": team.modes["devcontainer"],
            "credentials_from_host": [
                (source, f"${{localEnv:{source}}}") for _, source in team.credentials
            ],
        },
    }


def container_cargo_text(profile: Profile) -> str | None:
    """The cargo keys a container gets in its cargo home, as the repository's merge writes them
    (byte for byte the same key lines): every repository key but the build-dir, whose template
    names a workspace, and the linker, which the image may not have; the rustc wrapper, the
    runner and the rustdoc at their place in the image (a repository's own keys win in its
    workspace)."""
    cargo = dataclasses.replace(profile.model.cargo, build_dir=None, linker="none")
    keys = cargo_settings(cargo)
    if cache.wrapper_wanted(profile):
        source = "cache.engine" if profile.model.cache.engine != "none" else "admission.enabled"
        wrapper = f"{CONTAINER_LIBEXEC}/rustc-wrapper"
        keys += (ManagedKey(("build", "rustc-wrapper"), wrapper, source),)
    if admission.runner_wanted(profile):
        runner = f"{CONTAINER_LIBEXEC}/runner"
        rivals = ("target", None, "runner")
        keys += (ManagedKey(admission.RUNNER_KEY, runner, "admission.runner", rivals=rivals),)
    if admission.rustdoc_wanted(profile):
        rustdoc = f"{CONTAINER_LIBEXEC}/rustdoc"
        keys += (ManagedKey(admission.RUSTDOC_KEY, rustdoc, "admission.rustdoc"),)
    merged = MergedToml(path=FEATURE_CARGO, managed=keys)
    return merged.render(None) if merged.managed else None


def _check_env(profile: Profile) -> None:
    """Values the consumers would rewrite: the devcontainer CLI substitutes ``${...}`` in
    devcontainer.json, and a Feature's containerEnv becomes a Dockerfile ENV, which expands
    ``$NAME``. The env file keeps them literal, so the container would disagree with it."""
    section = profile.model.devcontainer
    for name, value in sorted(profile.model.env.vars.items()):
        text = str(value)
        if section.feature and "$" in text:
            raise BadInput(
                f"{profile.path}: env.vars.{name}: a `$` in the value would be expanded in the "
                "Dev Container Feature (its containerEnv is a Dockerfile ENV); remove the `$` or "
                "set devcontainer.feature: false"
            )
        if section.enabled and "${" in text:
            raise BadInput(
                f"{profile.path}: env.vars.{name}: the devcontainer CLI would substitute the "
                "`${...}` in the value; remove it or set devcontainer.enabled: false"
            )


@dataclass(frozen=True)
class _Retired:
    """A file buildkit no longer renders: removed while it is buildkit's and unedited, left
    alone when it is not buildkit's at all (a devcontainer.json of the user's own)."""

    path: str
    comment: str = "#"
    executable: bool = False
    ownership: str = field(default="owned", init=False)

    def render(self, current: str | None) -> str | None:
        if current is not None and GENERATED not in "\n".join(current.split("\n", 3)[:3]):
            return current
        return None

    def user_edited(self, current: str) -> bool:
        return RetiredFile(self.path, self.comment).user_edited(current)


def _render(name: str, context: dict[str, Any]) -> str:
    return templating.render("devcontainer", name, context)


def _json(name: str, context: dict[str, Any], path: str) -> str:
    body = _render(name, context)
    try:
        json.loads(body)
    except ValueError as exc:
        # Only a value the template failed to escape can get here: a bug, reported plainly.
        raise BadInput(
            f"{path}: buildkit rendered invalid JSON ({exc}) from devcontainer/{name}; "
            "report this with your buildkit.yaml's devcontainer and env sections"
        ) from None
    return body
