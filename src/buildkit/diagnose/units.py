"""What Cargo itself recorded about each compiled unit, read from its fingerprint files.

Cargo writes one fingerprint directory per unit: ``<profile>/.fingerprint/<package>-<hash>/``
in the classic layout (Cargo 1.95), ``<profile>/build/<package>/<hash>/fingerprint/`` in the
layout with one folder per unit (nightly ``-Zbuild-dir-new-layout``, stable from 1.100). In it,
``<kind>-<target>`` holds the unit's fingerprint (16 hex digits, a little-endian u64) and
``<kind>-<target>.json`` the inputs that made it: ``rustc`` (a hash of the compiler's version),
``features``, ``profile`` (a hash of the profile settings, incremental included, and the
compile mode), ``path`` (which source: two versions of a crate differ here), ``target``,
``compile_kind``, ``rustflags``, ``config`` and ``deps`` (each dependency's fingerprint).

Nothing here deletes; gc decides from these records.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

MEMO_JSON = re.compile(r"^(?P<memo>[^.][^/]*)\.json$")
RUSTC_VERSION = re.compile(rb"rustc [0-9][^\x00-\x1f]{0,200}?\)")
BUILD_OUTPUTS = (".rlib", ".so", ".dylib", ".dll")
REGISTRY_SOURCE = re.compile(r"/(?P<dir>[A-Za-z0-9_.+-]+-(?P<version>\d+\.\d+\.\d+[^/]*))/")


@dataclass
class Fingerprint:
    memo: str  # lib-serde, test-lib-app, bin-app, build-script-build-script-build, ...
    value: int | None  # the unit's own fingerprint, as the deps of others refer to it
    rustc: int
    features: str
    profile: int
    path: int
    target: int
    compile_kind: int
    rustflags: str
    config: int
    deps: tuple[int, ...]
    dep_names: tuple[str, ...]


@dataclass
class Unit:
    """Everything one compiled unit left in a profile directory, keyed by its hash."""

    profile: str
    hash: str
    name: str
    layout: str = "classic"  # or "unit-dir" (one folder per unit)
    paths: list[Path] = field(default_factory=list)
    last_used: float = 0.0
    bytes: int = 0
    fingerprint_dir: Path | None = None
    outputs: list[Path] = field(default_factory=list)
    fingerprints: list[Fingerprint] = field(default_factory=list)
    written: float = 0.0  # when Cargo last wrote its fingerprint (its last compile's end)
    started: float = 0.0  # its oldest record file: the dep-info, dated to that compile's start
    rustc_version: str | None = None
    source_version: str | None = None

    @property
    def main(self) -> Fingerprint | None:
        return self.fingerprints[0] if self.fingerprints else None

    @property
    def is_lib(self) -> bool:
        main = self.main
        return main is not None and main.memo.startswith("lib-")

    @property
    def mode(self) -> str:
        """``build`` when the unit produced code (.rlib, .so, ...), ``check`` for metadata only."""
        names = [p.name for p in self.outputs]
        if any(n.endswith(BUILD_OUTPUTS) for n in names):
            return "build"
        if any(n.endswith(".rmeta") for n in names):
            return "check"
        return "other"

    @property
    def toolchain(self) -> str:
        return self.rustc_version or (f"rustc#{self.main.rustc:x}" if self.main else "unknown")


def _int(value: Any) -> int:
    return int(value) if isinstance(value, int) and not isinstance(value, bool) else 0


def read_fingerprint(directory: Path, memo: str) -> Fingerprint | None:
    """One ``<memo>.json`` with its ``<memo>`` hash file; None when unreadable or unknown."""
    try:
        data = json.loads((directory / f"{memo}.json").read_text(encoding="utf-8"))
    except (OSError, ValueError, UnicodeDecodeError):
        return None
    if not isinstance(data, dict) or "rustc" not in data or "features" not in data:
        return None
    try:
        value: int | None = int.from_bytes(
            bytes.fromhex((directory / memo).read_text(encoding="ascii").strip()), "little"
        )
    except (OSError, ValueError, UnicodeDecodeError):
        value = None
    deps: list[int] = []
    names: list[str] = []
    for dep in data.get("deps") or []:
        if isinstance(dep, list) and len(dep) >= 4:
            names.append(str(dep[1]))
            deps.append(_int(dep[3]))
    return Fingerprint(
        memo=memo,
        value=value,
        rustc=_int(data.get("rustc")),
        features=str(data.get("features")),
        profile=_int(data.get("profile")),
        path=_int(data.get("path")),
        target=_int(data.get("target")),
        compile_kind=_int(data.get("compile_kind")),
        rustflags=json.dumps(data.get("rustflags")),
        config=_int(data.get("config")),
        deps=tuple(deps),
        dep_names=tuple(names),
    )


# A fingerprint file's name (memo): [flavor]<kind>-<target name>, e.g. lib-app_core,
# test-lib-app_core, test-bin-app-cli, build-script-build-script-build
MEMO_FLAVORS = ("test-", "doc-", "run-")
MEMO_KINDS = ("integration-test-", "build-script-", "lib-", "bin-", "example-", "bench-")


def crate_of(memo: str) -> str | None:
    """The crate name a fingerprint file is for, as rustc names the crate's incremental dir."""
    for flavor in MEMO_FLAVORS:
        if memo.startswith(flavor):
            memo = memo[len(flavor) :]
            break
    for kind in MEMO_KINDS:
        if memo.startswith(kind):
            return memo[len(kind) :].replace("-", "_")
    return None


def _memo_order(memo: str) -> tuple[int, str]:
    # the unit's main record first: a library before the run of a build script
    return (0 if memo.startswith("lib-") else 1, memo)


def read_unit_records(unit: Unit) -> None:
    """Fill in the fingerprints, the write time, the compiler and the source version."""
    directory = unit.fingerprint_dir
    if directory is None:
        return
    try:
        names = os.listdir(directory)
    except OSError:
        return
    memos = sorted((m["memo"] for n in names if (m := MEMO_JSON.match(n))), key=_memo_order)
    for memo in memos:
        fp = read_fingerprint(directory, memo)
        if fp is not None:
            unit.fingerprints.append(fp)
    times = []
    for name in names:
        try:
            times.append(os.lstat(directory / name).st_mtime)
        except OSError:
            continue
    if times:
        unit.written, unit.started = max(times), min(times)
    unit.rustc_version = _rustc_of(unit.outputs)
    unit.source_version = _source_version(unit.outputs)


def _rustc_of(outputs: list[Path]) -> str | None:
    """rustc writes its version string into the header of every ``.rmeta``."""
    for path in outputs:
        if path.name.endswith(".rmeta"):
            try:
                with open(path, "rb") as handle:
                    head = handle.read(512)
            except OSError:
                continue
            found = RUSTC_VERSION.search(head)
            if found:
                return found.group(0).decode("utf-8", "replace")
    return None


def _source_version(outputs: list[Path]) -> str | None:
    """The version in a registry source path of the unit's dep-info (``serde-1.0.200/``)."""
    for path in outputs:
        if path.name.endswith(".d"):
            try:
                text = path.read_text(encoding="utf-8", errors="replace")
            except OSError:
                continue
            found = REGISTRY_SOURCE.search(text)
            return found["version"] if found else None
    return None


def link_toolchains(units: list[Unit]) -> None:
    """Units without an ``.rmeta`` (binaries, tests) get the compiler of a unit with the same
    ``rustc`` hash whose ``.rmeta`` names it."""
    known: dict[int, str] = {}
    for unit in units:
        if unit.main and unit.rustc_version:
            known.setdefault(unit.main.rustc, unit.rustc_version)
    for unit in units:
        if unit.main and unit.rustc_version is None:
            unit.rustc_version = known.get(unit.main.rustc)


# ---------------------------------------------------------------------------------------------
# duplicates


@dataclass
class Duplicate:
    """More than one compiled unit of one library: same package and version (Cargo's ``path``),
    same profile directory, target and compile mode."""

    crate: str
    version: str | None
    profile: str
    mode: str
    units: list[Unit]
    causes: list[str]

    @property
    def extra_bytes(self) -> int:
        sizes = sorted(u.bytes for u in self.units)
        return sum(sizes[:-1])


CAUSE_TOOLCHAIN = "old toolchain"
CAUSE_FEATURES = "feature mix"
CAUSE_DEP_FEATURES = "feature mix in a dependency"
CAUSE_PROFILE = "incremental on/off (cq's incremental policy) or profile settings"
CAUSE_FLAGS = "RUSTFLAGS or Cargo config"
CAUSE_UNKNOWN = "unknown"


def cause(a: Fingerprint, b: Fingerprint) -> str:
    """Why Cargo compiled two units for one library, from the first input that differs."""
    if a.rustc != b.rustc:
        return CAUSE_TOOLCHAIN
    if a.features != b.features:
        return CAUSE_FEATURES
    if a.profile != b.profile:
        return CAUSE_PROFILE
    if a.rustflags != b.rustflags or a.config != b.config:
        return CAUSE_FLAGS
    if a.deps != b.deps:
        return CAUSE_DEP_FEATURES
    return CAUSE_UNKNOWN


def find_duplicates(units: list[Unit]) -> list[Duplicate]:
    groups: dict[tuple[Any, ...], list[Unit]] = {}
    for unit in units:
        main = unit.main
        if main is None or not unit.is_lib or unit.mode == "other":
            continue
        key = (unit.profile, main.memo, main.path, main.target, main.compile_kind, unit.mode)
        groups.setdefault(key, []).append(unit)
    found = []
    for members in groups.values():
        if len(members) < 2:
            continue
        members.sort(key=lambda u: (u.written, u.hash), reverse=True)
        newest = members[0].main
        assert newest is not None
        causes = sorted({cause(newest, m.main) for m in members[1:] if m.main is not None})
        first = members[0]
        found.append(
            Duplicate(
                crate=newest.memo.removeprefix("lib-"),
                version=first.source_version,
                profile=first.profile,
                mode=first.mode,
                units=members,
                causes=causes,
            )
        )
    return sorted(found, key=lambda d: (d.profile, d.crate, d.version or "", d.mode))
