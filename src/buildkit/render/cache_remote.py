"""The team's shared compiler cache (``cache.remote``): the engine's settings for a remote store.

The rendered wrapper, the workflow, the devcontainer and the laptops' env file all draw from
here, so the four places cannot disagree. sccache 0.16 reads its remote from the environment
(``SCCACHE_REDIS_ENDPOINT``, ``SCCACHE_BUCKET``, ``SCCACHE_WEBDAV_ENDPOINT``,
``SCCACHE_GHA_ENABLED``, each with a ``SCCACHE_<LEVEL>_RW_MODE``), and its multi-level cache
(``SCCACHE_MULTILEVEL_CHAIN=disk,<level>``) keeps the local store in front of it. Only
non-secret settings are rendered; credentials are the *names* of the variables (or CI secrets)
holding them, copied into the engine's variables at run time.

The mode of each destination reaches the one shared wrapper through ``BUILDKIT_CACHE_REMOTE``
(a mode of ``cache.remote.mode``): provision's env file, the devcontainer's ``containerEnv``
and the workflow set it; without it the wrapper uses ``cache.remote.mode.repository``.

Kind ``gha`` (GitHub Actions' cache) exists only on a runner: its destinations outside the
workflow are off (the schema refuses a profile that turns one on, with the key's line).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from urllib.parse import urlsplit

from buildkit.errors import BadInput
from buildkit.profile import Profile
from buildkit.profile.model import CacheRemote

MODE_VARIABLE = "BUILDKIT_CACHE_REMOTE"
# sccache's name of each kind as a level of its multi-level chain, and its read-only switch
LEVEL = {"redis": "redis", "s3": "s3", "webdav": "webdav", "gha": "gha"}
RW_MODE = {
    "redis": "SCCACHE_REDIS_RW_MODE",
    "s3": "SCCACHE_S3_RW_MODE",
    "webdav": "SCCACHE_WEBDAV_RW_MODE",
    "gha": "SCCACHE_GHA_RW_MODE",
}
# destinations without a GitHub Actions runner: no GitHub cache there
OUTSIDE_CI = ("repository", "laptops", "devcontainer")
_DEFAULT_PORT = {"redis": 6379, "rediss": 6379, "http": 80, "https": 443}


@dataclass(frozen=True)
class Remote:
    """One profile's remote, as the engine takes it."""

    kind: str
    settings: tuple[tuple[str, str], ...]  # non-secret SCCACHE_* name, value
    credentials: tuple[tuple[str, str], ...]  # engine variable, name of the variable holding it
    probe: str  # host:port the wrapper checks before starting a server on it ("" for none)
    modes: dict[str, str]

    @property
    def level(self) -> str:
        return LEVEL[self.kind]

    @property
    def rw_variable(self) -> str:
        return RW_MODE[self.kind]

    @property
    def ident(self) -> str:
        """A short hash of the settings: the engine's server reads them once, at start, so a
        server per set of settings (its socket is named by this) picks up any change."""
        text = json.dumps([self.kind, self.settings], separators=(",", ":"))
        return hashlib.sha256(text.encode("utf-8")).hexdigest()[:8]

    def location_label(self) -> str:
        """Where the store is, for messages (no credentials can be in it: the schema refuses)."""
        if self.kind == "gha":
            return "GitHub Actions' cache of the repository"
        return dict(self.settings)[_LOCATION_VARIABLE[self.kind]]


_LOCATION_VARIABLE = {
    "redis": "SCCACHE_REDIS_ENDPOINT",
    "s3": "SCCACHE_BUCKET",
    "webdav": "SCCACHE_WEBDAV_ENDPOINT",
}


def remote(profile: Profile) -> Remote | None:
    """The profile's remote, checked beyond what the schema can say; None without one."""
    cache = profile.model.cache
    spec = cache.remote
    if spec.kind == "none" or cache.engine == "none":
        return None
    where = f"{profile.path}: cache.remote"
    settings: list[tuple[str, str]] = []
    probe = ""
    if spec.kind == "gha":
        return _gha(spec)
    if not spec.location:
        raise BadInput(f"{where}.location: empty; kind {spec.kind} needs one (docs/cache.md)")
    if spec.kind in ("redis", "webdav"):
        schemes = ("redis", "rediss") if spec.kind == "redis" else ("http", "https")
        probe = _probe(spec.location, schemes, f"{where}.location")
        variable = "SCCACHE_REDIS_ENDPOINT" if spec.kind == "redis" else "SCCACHE_WEBDAV_ENDPOINT"
        settings.append((variable, spec.location))
    if spec.kind == "s3":
        settings.append(("SCCACHE_BUCKET", spec.location))
        if spec.endpoint:
            probe = _probe(spec.endpoint, ("http", "https"), f"{where}.endpoint")
            settings.append(("SCCACHE_ENDPOINT", spec.endpoint))
            settings.append(("SCCACHE_S3_USE_SSL", str(spec.endpoint.startswith("https")).lower()))
        if spec.region:
            settings.append(("SCCACHE_REGION", spec.region))
    elif spec.endpoint or spec.region:
        raise BadInput(f"{where}: endpoint and region are for kind s3 only; remove them")
    if spec.key_prefix:
        prefix_variable = {
            "redis": "SCCACHE_REDIS_KEY_PREFIX",
            "s3": "SCCACHE_S3_KEY_PREFIX",
            "webdav": "SCCACHE_WEBDAV_KEY_PREFIX",
        }
        settings.append((prefix_variable[spec.kind], spec.key_prefix))
    wanted = {
        "redis": "SCCACHE_REDIS_",
        "s3": "AWS_",
        "webdav": "SCCACHE_WEBDAV_",
    }[spec.kind]
    for target in spec.credentials:
        if not target.startswith(wanted):
            raise BadInput(
                f"{where}.credentials.{target}: not a credential of kind {spec.kind}; remove it"
            )
    mode = spec.mode
    return Remote(
        kind=spec.kind,
        settings=tuple(settings),
        credentials=tuple(sorted(spec.credentials.items())),
        probe=probe,
        modes={
            "repository": _mode(mode.repository),
            "laptops": _mode(mode.laptops),
            "devcontainer": _mode(mode.devcontainer),
            "ci": _mode(mode.ci),
            "ci_pull_requests": _mode(mode.ci_pull_requests),
        },
    )


def _gha(spec: CacheRemote) -> Remote:
    """GitHub Actions' cache: no location and no credentials (the schema refuses them: the
    workflow hands sccache the runner's own cache token), a namespace from ``key_prefix``, and
    nothing to probe (no host:port: sccache's own error handling applies). Off outside CI."""
    settings = [("SCCACHE_GHA_ENABLED", "on")]
    if spec.key_prefix:
        settings.append(("SCCACHE_GHA_VERSION", spec.key_prefix))
    modes = {name: "off" for name in OUTSIDE_CI}
    modes["ci"] = _mode(spec.mode.ci)
    modes["ci_pull_requests"] = _mode(spec.mode.ci_pull_requests)
    return Remote(kind="gha", settings=tuple(settings), credentials=(), probe="", modes=modes)


def _mode(value: str | bool) -> str:
    """A mode as the wrapper takes it: YAML reads a bare ``off`` as false."""
    return value if isinstance(value, str) else "off"


def _probe(url: str, schemes: tuple[str, ...], key: str) -> str:
    """``host:port`` of a URL, for the wrapper's reachability check."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise BadInput(f"{key}: not a URL; write it as {schemes[0]}://host:port") from None
    if parts.scheme not in schemes or not parts.hostname:
        raise BadInput(
            f"{key}: expected a {' or '.join(s + '://' for s in schemes)} URL with a host; "
            "see docs/cache.md"
        )
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    return f"{host}:{port or _DEFAULT_PORT[parts.scheme]}"


def shell_lines(pairs: tuple[tuple[str, str], ...]) -> str:
    """``NAME=VALUE`` lines, one per pair, as the wrapper reads them."""
    for name, value in pairs:
        if "\n" in value:
            raise BadInput(f"cache.remote: {name}'s value has a newline; remove it")
    return "".join(f"{name}={value}\n" for name, value in pairs)


def env_file_context(profile: Profile, destination: str) -> dict[str, object] | None:
    """The env file's lines for the team cache: ``repository`` keeps a mode the machine set
    (provision's env file, the devcontainer), a machine's own (``laptops``) sets it."""
    team = remote(profile)
    if team is None:
        return None
    mode = team.modes[destination]
    if destination == "repository":
        line = f'{MODE_VARIABLE}="${{{MODE_VARIABLE}:-{mode}}}"'
        comment = "how builds here use it, unless this machine says otherwise"
    else:
        line = f"{MODE_VARIABLE}={mode}"
        comment = "how this machine's builds use it"
    return {"line": line, "comment": comment, "credentials": list(team.credentials)}
