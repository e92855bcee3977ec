"""The GitHub Actions workflow: ``ci/rust.yml.j2`` rendered to ``profile.ci.path``.

The template sees the profile with two values resolved here: the toolchain (the channel of
``rust-toolchain.toml`` when the workspace has one, so CI builds with the laptops' compiler)
and the pip requirement that installs buildkit (install_source.py: a pinned source or the
published release; none leaves the ``buildkit check`` job out). Third-party actions come
from ``ci/pins.yaml`` through the ``pin`` filter: one place to review and refresh every SHA.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

import jinja2

from buildkit.errors import BadInput
from buildkit.install_source import requirement
from buildkit.pins import PINS_FILE, load_pins
from buildkit.profile import Profile
from buildkit.render import cache, cache_remote, templating
from buildkit.render.ownership import Artifact, OwnedFile, RetiredFile

TEMPLATE = "rust.yml.j2"
TOOLCHAIN_FILES = ("rust-toolchain.toml", "rust-toolchain")
_CHANNEL = re.compile(r"^[A-Za-z0-9._-]+$")
# What sccache 0.16's GitHub Actions cache (opendal's ghac service) reads from the environment:
# the switch to the current cache service (without it, the retired v1 service), its URL (v2;
# v1 on GitHub Enterprise Server), and the runner's token. A runner gives them to actions only.
GHA_RUNTIME_VARIABLES = (
    "ACTIONS_CACHE_SERVICE_V2",
    "ACTIONS_RESULTS_URL",
    "ACTIONS_CACHE_URL",
    "ACTIONS_RUNTIME_TOKEN",
)


def pin(action: str) -> str:
    """Jinja filter: ``"actions/checkout" | pin`` → ``actions/checkout@<sha> # v6.0.2``."""
    try:
        return load_pins().actions[action].uses()
    except KeyError:
        raise jinja2.TemplateError(f"{action}: no pin for this action in ci/{PINS_FILE}") from None


def tool(name: str) -> str:
    """Jinja filter: a tool for taiki-e/install-action, with its pinned version if it has one."""
    version = load_pins().tools.get(name)
    return f"{name}@{version}" if version else name


def toolchain_channel(root: Path, default: str) -> str:
    """The channel of the workspace's rust-toolchain file, or ``default`` when it has none."""
    for name in TOOLCHAIN_FILES:
        path = root / name
        if not path.is_file():
            continue
        text = path.read_text(encoding="utf-8")
        if name == "rust-toolchain" and "[toolchain]" not in text:
            channel = text.strip()  # the legacy one-line form: just the channel
        else:
            try:
                channel = tomllib.loads(text).get("toolchain", {}).get("channel", "")
            except tomllib.TOMLDecodeError as exc:
                raise BadInput(f"{path}: invalid TOML ({exc}); fix it, then render again") from None
        if not channel:
            return default  # a toolchain file with components only: the profile says which
        if not isinstance(channel, str) or not _CHANNEL.match(channel):
            raise BadInput(
                f"{path}: toolchain.channel {channel!r} is not a toolchain name such as "
                "`stable` or `1.85.0`; fix it, then render again"
            )
        return channel
    return default


def template_context(profile: Profile) -> dict[str, Any]:
    context = profile.template_context()
    ci = dict(context["profile"]["ci"])
    ci["toolchain"] = toolchain_channel(profile.root, ci["toolchain"])
    ci["buildkit_requirement"] = requirement(ci["buildkit_source"]) or ""
    context["profile"]["ci"] = ci
    context["team_cache"] = team_cache(profile)
    return context


def team_cache(profile: Profile) -> dict[str, Any] | None:
    """What the workflow needs of ``cache.remote``: the mode per event, the credentials' names
    (secrets of the same name), the pinned engine and the wrapper that reports its numbers."""
    team = cache_remote.remote(profile)
    if team is None:
        return None
    forks = "off" if team.modes["ci_pull_requests"] == "off" else "read-only"
    return {
        "kind": team.kind,
        "runtime_variables": list(GHA_RUNTIME_VARIABLES),
        "ci": team.modes["ci"],
        "ci_pull_requests": team.modes["ci_pull_requests"],
        "forks": forks,
        "credentials": [source for _, source in team.credentials],
        "requirement": cache.pinned_requirement(),
        "wrapper": cache.WRAPPER,
        "mode_variable": cache_remote.MODE_VARIABLE,
    }


def _environment() -> jinja2.Environment:
    env = templating.environment("ci")
    env.filters.setdefault("pin", pin)
    env.filters.setdefault("tool", tool)
    return env


def render_workflow(profile: Profile) -> str:
    return _environment().get_template(TEMPLATE).render(**template_context(profile))


def job_names(profile: Profile) -> list[str]:
    """The jobs the workflow has, in order (a workflow needs at least one)."""
    ci = profile.model.ci
    wanted = {
        "lint": ci.fmt or ci.clippy,
        "test": ci.test,
        "msrv": bool(ci.msrv),
        "hakari": profile.hakari_enabled,
        "buildkit": ci.buildkit_check and requirement(ci.buildkit_source) is not None,
    }
    return [name for name, on in wanted.items() if on]


def artifacts(profile: Profile) -> list[Artifact]:
    ci = profile.model.ci
    if not ci.enabled:
        return [RetiredFile(path=ci.path)]
    if not job_names(profile):
        raise BadInput(
            f"{profile.path}: ci: every job is off (ci.test, ci.fmt, ci.clippy, ci.msrv, hakari, "
            "ci.buildkit_check); turn one on, or set ci.enabled: false"
        )
    return [OwnedFile(path=ci.path, body=render_workflow(profile))]
