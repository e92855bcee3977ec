"""Cargo settings from the profile's ``cargo`` section, as keys merged into config.toml."""

from __future__ import annotations

import platform
import re
import shutil
import tomllib
from pathlib import Path

from buildkit.errors import BadInput, EnvironmentProblem
from buildkit.profile import Profile
from buildkit.profile.model import CargoSection
from buildkit.render import admission, cache
from buildkit.render.ownership import Artifact, ManagedKey, MergedToml

# The Linux targets a fast linker is set for. Keys per triple apply only when building for
# that triple, so a shared profile changes nothing on a macOS teammate's builds.
LINUX_TARGETS = ("x86_64-unknown-linux-gnu", "aarch64-unknown-linux-gnu")
LINUX_TARGET = LINUX_TARGETS[0]
# rustc uses its own lld on x86_64-unknown-linux-gnu by default from this release on.
LLD_DEFAULT_SINCE = (1, 90)
_LINKER_PROGRAMS = {"mold": "mold", "lld": "ld.lld"}
LEGACY_CONFIG = ".cargo/config"


def cargo_settings(
    cargo: CargoSection, *, rust_version: tuple[int, int] | None = None
) -> tuple[ManagedKey, ...]:
    """The TOML keys a profile's cargo section sets; shared with the machine (ansible) side.

    ``rust_version``: the workspace's minimum Rust version; from 1.90 on, lld is already the
    default on x86_64 Linux, so ``linker: lld`` is set for the other Linux targets only.
    """
    keys: list[ManagedKey] = []
    if cargo.dependency_debug is not None:
        keys.append(
            ManagedKey(
                ("profile", "dev", "package", "*", "debug"),
                cargo.dependency_debug,
                "cargo.dependency_debug",
            )
        )
    if cargo.jobs is not None:
        keys.append(ManagedKey(("build", "jobs"), cargo.jobs, "cargo.jobs"))
    if cargo.incremental is not None:
        keys.append(ManagedKey(("build", "incremental"), cargo.incremental, "cargo.incremental"))
    if cargo.build_dir is not None:
        keys.append(ManagedKey(("build", "build-dir"), cargo.build_dir, "cargo.build_dir"))
    if cargo.split_debuginfo is not None:
        keys.append(
            ManagedKey(
                ("profile", "dev", "split-debuginfo"),
                cargo.split_debuginfo,
                "cargo.split_debuginfo",
            )
        )
    linker = cargo.linker
    for triple in LINUX_TARGETS if linker != "none" else ():
        lld_default = rust_version is not None and rust_version >= LLD_DEFAULT_SINCE
        if linker == "lld" and triple == LINUX_TARGET and lld_default:
            continue
        keys.append(
            ManagedKey(
                ("target", triple, "rustflags"),
                ["-C", f"link-arg=-fuse-ld={linker}"],
                "cargo.linker",
                append=True,
                # cargo ignores build.rustflags once a target list applies: carry them over
                seed=("build", "rustflags"),
            )
        )
    return tuple(keys)


def require_linker(cargo: CargoSection) -> None:
    """Selecting a linker the machine lacks would break every build here: refuse it at render
    time on Linux, where the setting applies; elsewhere (macOS) the keys are inert."""
    linker = cargo.linker
    if linker == "none" or platform.system() != "Linux":
        return
    if shutil.which(_LINKER_PROGRAMS[linker]) is None:
        raise EnvironmentProblem(
            f"buildkit.yaml: cargo.linker is {linker!r} but `{_LINKER_PROGRAMS[linker]}` is not on "
            f"PATH; install it (e.g. apt-get install {linker}) or set cargo.linker: none"
        )


def workspace_rust_version(root: Path) -> tuple[int, int] | None:
    """``rust-version`` of the root manifest (workspace.package or package), as (major, minor)."""
    try:
        manifest = tomllib.loads((root / "Cargo.toml").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return None  # cargo metadata has already reported a broken manifest
    for table in (manifest.get("workspace", {}).get("package", {}), manifest.get("package", {})):
        version = table.get("rust-version") if isinstance(table, dict) else None
        match = re.match(r"(\d+)\.(\d+)", version) if isinstance(version, str) else None
        if match:
            return int(match[1]), int(match[2])
    return None


def refuse_legacy_config(root: Path, config_path: str) -> None:
    """Cargo reads ``.cargo/config`` instead of ``.cargo/config.toml`` when both exist, so
    buildkit's keys would be ignored; a lone legacy file would be shadowed by the new one."""
    legacy = root / LEGACY_CONFIG
    if config_path != ".cargo/config.toml" or not legacy.is_file():
        return
    both = (root / config_path).exists()
    raise BadInput(
        f"{LEGACY_CONFIG}: cargo's legacy config file is here"
        + (" beside .cargo/config.toml (cargo reads only the legacy one)" if both else "")
        + "; merge it into .cargo/config.toml and delete it (`git mv .cargo/config "
        ".cargo/config.toml` when only the legacy file exists), then render again"
    )


def artifacts(profile: Profile) -> list[Artifact]:
    cargo = profile.model.cargo
    refuse_legacy_config(profile.root, cargo.config_path)
    keys = cargo_settings(cargo, rust_version=workspace_rust_version(profile.root))
    keys += cache.wrapper_setting(profile)
    keys += admission.settings(profile)
    base = (profile.root / cargo.config_path).parent
    return [MergedToml(path=cargo.config_path, managed=keys, base=base)]
