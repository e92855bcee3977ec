"""Find the target directories of a repository's worktrees and take each one apart.

A target directory holds profile directories (``debug``, ``release``, custom profiles, and
``<triple>/<profile>`` when cross-compiling). Inside a profile directory Cargo 1.95 keeps
``deps/`` (compiled crates and test binaries), ``.fingerprint/`` and ``build/`` (one entry
per compiled unit, named ``<name>-<16 hex hash>``, the same hash as the unit's files in
``deps/`` and its hashed binaries in ``examples/``) and ``incremental/`` (one directory per
crate and feature/profile mix, never collected by Cargo). Cargo's newer layout (nightly
``-Zbuild-dir-new-layout``, stable from 1.100) keeps each unit whole in
``build/<package>/<16 hex hash>/`` (``fingerprint/``, ``out/``, ...). Anything else in those
directories is listed as unrecognised and never deleted.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import stat
import subprocess
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from buildkit.diagnose.sizes import ProgressFn, Usage, Walker
from buildkit.diagnose.units import (
    Duplicate,
    Unit,
    find_duplicates,
    link_toolchains,
    read_unit_records,
)
from buildkit.workspace import git_output, git_worktree_records

PROFILE_PARTS = ("deps", ".fingerprint", "incremental", "build")
SPLIT_DEBUGINFO_EXTS = (".rcgu.o", ".dSYM")
HASH_RE = re.compile(r"^[0-9a-f]{16}$")
UNIT_RE = re.compile(r"^(?P<stem>.+)-(?P<hash>[0-9a-f]{16})(?P<ext>\..+)?$")


@dataclass(frozen=True)
class Worktree:
    path: Path
    branch: str | None
    exists: bool
    prunable: bool


@dataclass
class TargetLocation:
    path: Path
    worktrees: list[Path]
    stale: bool  # every worktree that used it is gone
    how: str  # "default", "CARGO_TARGET_DIR", "config", "stale worktree"


@dataclass
class IncrementalDir:
    path: Path
    crate: str
    profile: str
    bytes: int
    newest: float


@dataclass
class TargetScan:
    location: TargetLocation
    symlink_to: Path | None = None
    bytes: int = 0
    files: int = 0
    profiles: dict[str, int] = field(default_factory=dict)
    other_bytes: int = 0
    incremental: list[IncrementalDir] = field(default_factory=list)
    rlibs: int = 0
    units: dict[tuple[str, str], Unit] = field(default_factory=dict)
    # inodes of the files Cargo uplifted into a profile dir or examples/: the last build of
    # each target links them
    uplifted: dict[str, set[tuple[int, int]]] = field(default_factory=dict)
    unrecognised: list[Path] = field(default_factory=list)  # reported, never deleted
    # object files and debug bundles split-debuginfo = "unpacked" leaves next to binaries
    debuginfo_files: int = 0
    debuginfo_bytes: int = 0

    @property
    def path(self) -> Path:
        return self.location.path

    def duplicates(self) -> list[Duplicate]:
        return find_duplicates(list(self.units.values()))


# ---------------------------------------------------------------------------------------------
# discovery


def list_worktrees(root: Path) -> list[Worktree]:
    """``git worktree list --porcelain``; the root alone when it is not in git."""
    records = git_worktree_records(root)
    if records is None:
        return [Worktree(root, None, True, False)]
    worktrees: list[Worktree] = []
    for fields in records:
        if "bare" in fields:
            continue
        path = Path(fields["worktree"])
        branch = fields.get("branch")
        prunable = "prunable" in fields  # git's own verdict: the checkout is gone
        worktrees.append(
            Worktree(
                path=path,
                branch=branch.removeprefix("refs/heads/") if branch else None,
                exists=path.is_dir() and not prunable,
                prunable=prunable,
            )
        )
    return worktrees or [Worktree(root, None, True, False)]


def _configured_target_dir(worktree: Path) -> tuple[Path, str] | None:
    """CARGO_TARGET_DIR, else ``build.target-dir`` of the worktree's .cargo/config.toml."""
    env = os.environ.get("CARGO_TARGET_DIR")
    if env:
        path = Path(env)
        return (path if path.is_absolute() else worktree / path), "CARGO_TARGET_DIR"
    config = worktree / ".cargo" / "config.toml"
    try:
        data = tomllib.loads(config.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError):
        return None
    build = data.get("build")
    value = build.get("target-dir") if isinstance(build, dict) else None
    if isinstance(value, str) and value:
        path = Path(value)
        # a relative target-dir is relative to the directory holding .cargo/
        return (path if path.is_absolute() else worktree / path), "config"
    return None


def workspace_root(path: Path) -> Path:
    """The Cargo workspace that ``path`` lies in (``cargo locate-project --workspace``, so a
    member crate's directory gives its workspace); ``path`` itself when Cargo finds none."""
    cargo = shutil.which("cargo")
    if cargo is None:
        return path
    done = subprocess.run(
        [cargo, "locate-project", "--workspace", "--message-format", "plain", "--offline"],
        cwd=path,
        capture_output=True,
        text=True,
        check=False,
    )
    manifest = done.stdout.strip()
    if done.returncode != 0 or not manifest:
        return path
    return Path(manifest).parent


def cargo_dirs(workspace: Path) -> dict[str, Path]:
    """The target and build dir Cargo uses in ``workspace`` with this environment, as
    ``{"target-dir": …, "build-dir": …}`` (``cargo metadata`` resolves the config, the
    environment and templates such as ``{cargo-cache-home}/build/{workspace-path-hash}``;
    build-dir only on cargo 1.91+ and only when it differs from the target dir); empty when
    Cargo cannot tell (no manifest, no cargo)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CQ_")}
    try:
        done = subprocess.run(
            ["cargo", "metadata", "--no-deps", "--format-version", "1", "--offline"],
            cwd=workspace,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        meta = json.loads(done.stdout) if done.returncode == 0 else {}
    except (OSError, subprocess.TimeoutExpired, ValueError):
        return {}
    found: dict[str, Path] = {}
    target = meta.get("target_directory") if isinstance(meta, dict) else None
    build = meta.get("build_directory") if isinstance(meta, dict) else None
    if isinstance(target, str):
        found["target-dir"] = Path(os.path.realpath(target))
    if isinstance(build, str) and Path(os.path.realpath(build)) != found.get("target-dir"):
        found["build-dir"] = Path(os.path.realpath(build))
    return found


def cargo_build_dir(workspace: Path) -> Path | None:
    """Cargo's ``build.build-dir`` for ``workspace`` when it is set apart from the target dir."""
    return cargo_dirs(workspace).get("build-dir")


def workspace_subdir(root: Path) -> str:
    """Where ``root`` lies inside its worktree (``""`` at the top, ``rust/`` for a workspace
    in a subdirectory): the same place in every other worktree holds its twin."""
    output = git_output(root, "rev-parse", "--show-prefix")
    return output.strip() if output is not None else ""


def locate_targets(worktrees: list[Worktree], subdir: str = "") -> list[TargetLocation]:
    """One entry per distinct target (or build) directory that exists on disk."""
    found: dict[Path, TargetLocation] = {}
    for wt in worktrees:
        ws = wt.path / subdir if subdir else wt.path
        if wt.exists:
            configured = _configured_target_dir(ws)
            path, how = configured if configured else (ws / "target", "default")
            stale = False
        else:
            # the checkout is gone (or is no longer a worktree); what Cargo left behind stays
            path, how, stale = ws / "target", "stale worktree", True
        if wt.exists:
            build_dir = cargo_build_dir(ws)
            if build_dir is not None and build_dir.is_dir() and looks_like_target(build_dir):
                key = Path(os.path.abspath(build_dir))
                if key in found:
                    found[key].worktrees.append(wt.path)
                else:
                    found[key] = TargetLocation(key, [wt.path], False, "build-dir")
        if not os.path.lexists(path):
            continue
        if stale and not os.path.islink(path) and not looks_like_target(path):
            continue  # only ever offer to delete what Cargo made
        key = Path(os.path.abspath(path))
        if key in found:
            found[key].worktrees.append(wt.path)
            found[key].stale = found[key].stale and stale
        else:
            found[key] = TargetLocation(key, [wt.path], stale, how)
    return list(found.values())


def repository_targets(root: Path, worktrees: list[Worktree]) -> list[TargetLocation]:
    """Every target dir doctor and gc look at for the repository at ``root``."""
    return locate_targets(worktrees, workspace_subdir(root))


def looks_like_target(path: Path) -> bool:
    """Cargo writes CACHEDIR.TAG and .rustc_info.json at the top of every target dir."""
    return (path / "CACHEDIR.TAG").is_file() or (path / ".rustc_info.json").is_file()


# ---------------------------------------------------------------------------------------------
# scanning


def _is_dir(path: str) -> bool:
    try:
        return stat.S_ISDIR(os.lstat(path).st_mode)
    except OSError:
        return False


def _is_profile_dir(path: str) -> bool:
    return any(_is_dir(os.path.join(path, part)) for part in PROFILE_PARTS)


def scan_target(location: TargetLocation, progress: ProgressFn | None = None) -> TargetScan:
    scan = TargetScan(location)
    root = str(location.path)
    if progress is not None:
        progress(root, 0, 0)
    if os.path.islink(root):
        scan.symlink_to = Path(os.readlink(root))
        walker = Walker(root, progress)
        scan.bytes = walker.stat_only(root)[1].bytes
        return scan
    walker = Walker(root, progress)
    total = Usage()
    total.add(walker.stat_only(root)[1])
    scan.other_bytes += total.bytes  # the directory's own blocks
    try:
        top = sorted(os.scandir(root), key=lambda e: e.name)
    except OSError:
        top = []
    for entry in top:
        if entry.is_dir(follow_symlinks=False) and _is_profile_dir(entry.path):
            used = _scan_profile(scan, walker, entry.path, entry.name)
        elif entry.is_dir(follow_symlinks=False) and _has_profile_child(entry.path):
            used = walker.stat_only(entry.path)[1]  # <triple>/<profile>
            scan.other_bytes += used.bytes
            for child in sorted(os.scandir(entry.path), key=lambda e: e.name):
                name = f"{entry.name}/{child.name}"
                if child.is_dir(follow_symlinks=False) and _is_profile_dir(child.path):
                    used.add(_scan_profile(scan, walker, child.path, name))
                else:
                    part = walker.usage(child.path)
                    scan.other_bytes += part.bytes
                    used.add(part)
        else:
            used = walker.usage(entry.path)
            scan.other_bytes += used.bytes
        total.add(used)
    scan.bytes = total.bytes
    scan.files = total.files
    return scan


def _has_profile_child(path: str) -> bool:
    try:
        with os.scandir(path) as entries:
            return any(e.is_dir(follow_symlinks=False) and _is_profile_dir(e.path) for e in entries)
    except OSError:
        return False


def _unit(scan: TargetScan, profile: str, name: str, hash_: str) -> Unit:
    key = (profile, hash_)
    unit = scan.units.get(key)
    if unit is None:
        unit = scan.units[key] = Unit(profile, hash_, name)
    return unit


def _add(unit: Unit, path: str, item: Usage) -> None:
    unit.paths.append(Path(path))
    unit.bytes += item.bytes
    unit.last_used = max(unit.last_used, item.newest_use)


def _inode(path: str) -> tuple[int, int] | None:
    try:
        st = os.lstat(path)
    except OSError:
        return None
    return (st.st_dev, st.st_ino) if stat.S_ISREG(st.st_mode) else None


def _scan_profile(scan: TargetScan, walker: Walker, path: str, profile: str) -> Usage:
    used = walker.stat_only(path)[1]
    try:
        entries = {e.name: e for e in os.scandir(path)}
    except OSError:
        entries = {}
    # deps/ first: the copies Cargo uplifts into the profile directory are hard links to these
    parts = (*PROFILE_PARTS, "examples")
    order: list[str] = [n for n in parts if n in entries]
    order += sorted(n for n in entries if n not in order)
    uplifted = scan.uplifted.setdefault(profile, set())
    for name in order:
        entry = entries[name]
        if name in parts and entry.is_dir(follow_symlinks=False):
            used.add(walker.stat_only(entry.path)[1])
            used.add(_scan_part(scan, walker, entry.path, profile, name))
        else:
            used.add(walker.usage(entry.path))
            inode = _inode(entry.path)
            if inode is not None:
                uplifted.add(inode)
    scan.profiles[profile] = scan.profiles.get(profile, 0) + used.bytes
    for unit in scan.units.values():
        if unit.profile == profile:
            read_unit_records(unit)
    link_toolchains([u for u in scan.units.values() if u.profile == profile])
    return used


def _scan_part(scan: TargetScan, walker: Walker, path: str, profile: str, part: str) -> Usage:
    used = Usage()
    try:
        entries = sorted(os.scandir(path), key=lambda e: e.name)
    except OSError:
        return used
    uplifted = scan.uplifted.setdefault(profile, set())
    for entry in entries:
        name = entry.name
        is_dir = entry.is_dir(follow_symlinks=False)
        if part == "build" and is_dir and UNIT_RE.match(name) is None:
            unit_dirs = _unit_dirs(entry.path)
            if unit_dirs is not None:  # build/<package>/<hash>/: one folder per unit
                used.add(walker.stat_only(entry.path)[1])
                for unit_dir in unit_dirs:
                    item = walker.usage(unit_dir.path)
                    used.add(item)
                    unit = _unit(scan, profile, name, unit_dir.name)
                    unit.layout = "unit-dir"
                    _add(unit, unit_dir.path, item)
                    _unit_dir_records(unit, Path(unit_dir.path))
                    scan.rlibs += sum(1 for p in unit.outputs if p.suffix == ".rlib")
                    leftovers = [p for p in unit.outputs if p.name.endswith(SPLIT_DEBUGINFO_EXTS)]
                    scan.debuginfo_files += len(leftovers)
                    scan.debuginfo_bytes += sum(Walker().usage(str(p)).bytes for p in leftovers)
                continue
        item = walker.usage(entry.path)
        used.add(item)
        if part == "incremental":
            if is_dir:
                crate = name.rsplit("-", 1)[0]
                scan.incremental.append(
                    IncrementalDir(Path(entry.path), crate, profile, item.bytes, item.newest_mtime)
                )
            else:
                scan.unrecognised.append(Path(entry.path))
            continue
        match = UNIT_RE.match(name)
        if match is None:
            if part == "examples":  # an uplifted example (`examples/<name>`), not a unit
                inode = _inode(entry.path)
                if inode is not None:
                    uplifted.add(inode)
            elif part != "deps" or not name.startswith("artifact"):
                scan.unrecognised.append(Path(entry.path))
            continue
        stem, hash_, ext = match["stem"], match["hash"], match["ext"] or ""
        unit = _unit(scan, profile, stem, hash_)
        _add(unit, entry.path, item)
        if ext.endswith(SPLIT_DEBUGINFO_EXTS):
            scan.debuginfo_files += 1
            scan.debuginfo_bytes += item.bytes
        if part == ".fingerprint" and is_dir:
            unit.name = stem
            unit.fingerprint_dir = Path(entry.path)
        elif part in ("deps", "examples") and not is_dir:
            unit.outputs.append(Path(entry.path))
        if part == "deps" and ext == ".rlib" and not entry.is_symlink():
            scan.rlibs += 1
    return used


def _unit_dirs(path: str) -> list[os.DirEntry[str]] | None:
    """The unit folders of ``build/<package>/`` in the one-folder-per-unit layout; None when
    the directory is not laid out that way (it is then reported, never deleted)."""
    try:
        with os.scandir(path) as entries:
            children = sorted(entries, key=lambda e: e.name)
    except OSError:
        return None
    if not children or not all(
        HASH_RE.match(c.name) and c.is_dir(follow_symlinks=False) for c in children
    ):
        return None
    return children


def _unit_dir_records(unit: Unit, path: Path) -> None:
    fingerprint = path / "fingerprint"
    if fingerprint.is_dir():
        unit.fingerprint_dir = fingerprint
    out = path / "out"
    with contextlib.suppress(OSError):
        unit.outputs += sorted(
            p for p in out.iterdir() if p.is_file() or p.name.endswith(SPLIT_DEBUGINFO_EXTS)
        )
