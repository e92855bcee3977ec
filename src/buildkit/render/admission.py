"""Admission: the runner that puts test binaries and ``cargo run`` programs into the CPU budget.

Compiles enter the budget through the rustc wrapper (``render/cache.py``, one wrapper for the
cache and admission). Programs cargo runs enter it through ``target.'cfg(all())'.runner``, the
one runner key that applies to every target: a small POSIX sh script
(``templates/cargo-runner.sh``) that hands the program to the wrapper beside it. Cargo takes
one runner per target, so a runner of the user's own anywhere under ``target`` is a conflict
(cargo would either ignore ours or refuse both), never silently overridden.
"""

from __future__ import annotations

from buildkit.profile import Profile
from buildkit.render.cache import WRAPPER, from_config
from buildkit.render.ownership import Artifact, ManagedKey, OwnedFile, RetiredFile
from buildkit.resources import data_dir

SOURCE = "cargo-runner.sh"
RUNNER = WRAPPER.rsplit("/", 1)[0] + "/runner"
RUNNER_KEY = ("target", "cfg(all())", "runner")


def runner_wanted(profile: Profile) -> bool:
    admission = profile.model.admission
    return admission.enabled and admission.runner


def runner_setting(profile: Profile) -> tuple[ManagedKey, ...]:
    if not runner_wanted(profile):
        return ()
    return (
        ManagedKey(
            RUNNER_KEY,
            from_config(profile, RUNNER),
            "admission.runner",
            rivals=("target", None, "runner"),
        ),
    )


def artifacts(profile: Profile) -> list[Artifact]:
    if not runner_wanted(profile):
        return [RetiredFile(path=RUNNER, executable=True)]
    body = (data_dir("templates") / SOURCE).read_text(encoding="utf-8")
    return [OwnedFile(path=RUNNER, body=body, executable=True)]
