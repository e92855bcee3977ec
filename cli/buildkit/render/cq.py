"""cq, the build queue: one self-contained POSIX sh script rendered from ``templates/cq.sh.j2``.

The same template is installed on laptops by the ansible roles, so the script needs nothing but
``sh``, the usual POSIX tools, and ``flock``/``setsid`` or perl at run time (docs/cq.md).
"""

from __future__ import annotations

from buildkit.profile import Profile
from buildkit.render import templating
from buildkit.render.ownership import Artifact, OwnedFile, RetiredFile


def artifacts(profile: Profile) -> list[Artifact]:
    cq = profile.section("cq")
    if not cq["enabled"]:
        return [RetiredFile(path=cq["path"], executable=True)]
    body = templating.render("templates", "cq.sh.j2", profile.template_context())
    return [OwnedFile(path=cq["path"], body=body, executable=True)]
