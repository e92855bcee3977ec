"""Admission: the runner and rustdoc that put programs and doctests into the CPU budget.

Compiles enter the budget through the rustc wrapper (``render/cache.py``, one wrapper for the
cache and admission). Programs cargo runs enter it through ``target.'cfg(all())'.runner``, the
one runner key that applies to every target: a small POSIX sh script
(``templates/cargo-runner.sh``) that hands the program to the wrapper beside it. Cargo takes
one runner per target, so a runner of the user's own anywhere under ``target`` is a conflict
(cargo would either ignore ours or refuse both), never silently overridden. Doctests and
``cargo doc`` enter it through ``build.rustdoc``: a script (``templates/cargo-rustdoc.sh``) that
hands the call to the wrapper, which runs the toolchain's rustdoc holding slots.
"""

from __future__ import annotations

from buildkit.profile import Profile
from buildkit.render.cache import WRAPPER, from_config
from buildkit.render.ownership import Artifact, ManagedKey, OwnedFile, RetiredFile
from buildkit.resources import data_dir

SOURCE = "cargo-runner.sh"
RUNNER = WRAPPER.rsplit("/", 1)[0] + "/runner"
RUNNER_KEY = ("target", "cfg(all())", "runner")
RUSTDOC_SOURCE = "cargo-rustdoc.sh"
RUSTDOC = WRAPPER.rsplit("/", 1)[0] + "/rustdoc"
RUSTDOC_KEY = ("build", "rustdoc")


def runner_wanted(profile: Profile) -> bool:
    admission = profile.model.admission
    return admission.enabled and admission.runner


def rustdoc_wanted(profile: Profile) -> bool:
    admission = profile.model.admission
    return admission.enabled and admission.rustdoc


def settings(profile: Profile) -> tuple[ManagedKey, ...]:
    keys: tuple[ManagedKey, ...] = ()
    if runner_wanted(profile):
        keys += (
            ManagedKey(
                RUNNER_KEY,
                from_config(profile, RUNNER),
                "admission.runner",
                rivals=("target", None, "runner"),
            ),
        )
    if rustdoc_wanted(profile):
        keys += (ManagedKey(RUSTDOC_KEY, from_config(profile, RUSTDOC), "admission.rustdoc"),)
    return keys


def script(source: str) -> str:
    return (data_dir("templates") / source).read_text(encoding="utf-8")


def artifacts(profile: Profile) -> list[Artifact]:
    out: list[Artifact] = []
    for wanted, path, source in (
        (runner_wanted(profile), RUNNER, SOURCE),
        (rustdoc_wanted(profile), RUSTDOC, RUSTDOC_SOURCE),
    ):
        if wanted:
            out.append(OwnedFile(path=path, body=script(source), executable=True))
        else:
            out.append(RetiredFile(path=path, executable=True))
    return out
