"""Cargo settings from the profile's ``cargo`` section, as keys merged into config.toml."""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from typing import Any

from buildkit.errors import EnvironmentProblem
from buildkit.profile import Profile
from buildkit.render.ownership import Artifact, ManagedKey, MergedToml

LINUX_TARGET = "x86_64-unknown-linux-gnu"
_LINKER_PROGRAMS = {"mold": "mold", "lld": "ld.lld"}


def cargo_settings(cargo: Mapping[str, Any]) -> tuple[ManagedKey, ...]:
    """The TOML keys a profile's cargo section sets; shared with the machine (ansible) side."""
    keys: list[ManagedKey] = []
    if cargo["dependency_debug"] is not None:
        keys.append(
            ManagedKey(
                ("profile", "dev", "package", "*", "debug"),
                cargo["dependency_debug"],
                "cargo.dependency_debug",
            )
        )
    if cargo["jobs"] is not None:
        keys.append(ManagedKey(("build", "jobs"), cargo["jobs"], "cargo.jobs"))
    if cargo["incremental"] is not None:
        keys.append(ManagedKey(("build", "incremental"), cargo["incremental"], "cargo.incremental"))
    if cargo["build_dir"] is not None:
        keys.append(ManagedKey(("build", "build-dir"), cargo["build_dir"], "cargo.build_dir"))
    if cargo.get("split_debuginfo") is not None:
        keys.append(
            ManagedKey(
                ("profile", "dev", "split-debuginfo"),
                cargo["split_debuginfo"],
                "cargo.split_debuginfo",
            )
        )
    if cargo["linker"] != "none":
        keys.append(
            ManagedKey(
                ("target", LINUX_TARGET, "rustflags"),
                ["-C", f"link-arg=-fuse-ld={cargo['linker']}"],
                "cargo.linker",
            )
        )
    return tuple(keys)


def require_linker(cargo: Mapping[str, Any]) -> None:
    """Selecting a linker the machine lacks would break every build: refuse it at render time."""
    linker = cargo["linker"]
    if linker == "none":
        return
    if shutil.which(_LINKER_PROGRAMS[linker]) is None:
        raise EnvironmentProblem(
            f"buildkit.yaml: cargo.linker is {linker!r} but `{_LINKER_PROGRAMS[linker]}` is not on "
            f"PATH; install it (e.g. apt-get install {linker}) or set cargo.linker: none"
        )


def artifacts(profile: Profile) -> list[Artifact]:
    cargo = profile.section("cargo")
    return [MergedToml(path=cargo["config_path"], managed=cargo_settings(cargo))]
