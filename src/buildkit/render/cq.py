"""cq, the build queue: ``templates/cq.sh``, a plain POSIX sh script, with the profile's values.

The script is committed as it runs: shellcheck reads it as is, and no template engine touches
its code (``${#var}`` would open a Jinja comment). Its values sit between two marker lines;
rendering replaces only those lines. The same text goes to the repository (``cq.path``), to
laptops (``buildkit provision``) and into the Dev Container Feature, so all three run one cq.
It needs nothing but ``sh``, the usual POSIX tools, and ``flock``/``setsid`` or perl (docs/cq.md).
"""

from __future__ import annotations

import shlex

from buildkit.profile import Profile
from buildkit.render import script_values
from buildkit.render.ownership import Artifact, OwnedFile, RetiredFile

SOURCE = "cq.sh"
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def profile_values(profile: Profile) -> dict[str, str]:
    """Each shell variable cq reads from the profile, as a shell word."""
    cq, cargo, gc = profile.model.cq, profile.model.cargo, profile.model.gc
    return {
        "cq_default_scope": shlex.quote(cq.scope),
        "cq_heavy": shlex.quote(" " + " ".join(cq.heavy_commands) + " "),
        "cq_oneshot": shlex.quote(" " + " ".join(cq.oneshot_commands) + " "),
        "cq_default_grace": str(int(cq.grace_seconds)),
        "cq_default_timeout": str(int(cq.wait_timeout)),
        "cq_burst": "1" if cq.burst and cargo.jobs is None else "0",
        "cq_gc_max_size": shlex.quote(gc.max_size or ""),
        "cq_gc_max_age": shlex.quote(gc.max_age or ""),
        "cq_gc_interval": str(int(gc.interval[:-1]) * _SECONDS[gc.interval[-1]]),
    }


def render_cq(profile: Profile) -> str:
    """The cq script with this profile's values in place of the committed defaults."""
    return script_values.fill(SOURCE, profile_values(profile))


def artifacts(profile: Profile) -> list[Artifact]:
    cq = profile.model.cq
    if not cq.enabled:
        return [RetiredFile(path=cq.path, executable=True)]
    return [OwnedFile(path=cq.path, body=render_cq(profile), executable=True)]
