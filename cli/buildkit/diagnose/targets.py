"""Find the target directories of a repository's worktrees and take each one apart.

A target directory holds profile directories (``debug``, ``release``, custom profiles, and
``<triple>/<profile>`` when cross-compiling). Inside a profile directory Cargo keeps
``deps/`` (compiled crates and test binaries), ``.fingerprint/`` and ``build/`` (one entry
per compiled unit, named ``<name>-<16 hex hash>``, the same hash as the unit's files in
``deps/``) and ``incremental/`` (one directory per crate and feature/profile mix, never
collected by Cargo).
"""

from __future__ import annotations

import os
import re
import stat
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from buildkit.diagnose.sizes import ProgressFn, Usage, Walker
from buildkit.workspace import git_output, git_worktree_records

PROFILE_PARTS = ("deps", ".fingerprint", "incremental", "build")
UNIT_RE = re.compile(r"^(?P<stem>.+)-(?P<hash>[0-9a-f]{16})(?P<ext>\..+)?$")
LIB_EXTS = (".rlib", ".rmeta", ".so", ".dylib", ".dll", ".a")


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
class Unit:
    """Everything one compiled unit left in a profile directory, keyed by its hash."""

    profile: str
    hash: str
    name: str
    paths: list[Path] = field(default_factory=list)
    last_used: float = 0.0


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
    lib_copies: dict[str, set[str]] = field(default_factory=dict)  # crate -> {profile/hash}
    lib_bytes: dict[str, dict[str, int]] = field(default_factory=dict)  # crate -> copy -> bytes
    units: dict[tuple[str, str], Unit] = field(default_factory=dict)

    @property
    def path(self) -> Path:
        return self.location.path

    def duplicates(self) -> dict[str, int]:
        return {
            crate: len(copies)
            for crate, copies in sorted(self.lib_copies.items())
            if len(copies) > 1
        }


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


def workspace_subdir(root: Path) -> str:
    """Where ``root`` lies inside its worktree (``""`` at the top, ``rust/`` for a workspace
    in a subdirectory): the same place in every other worktree holds its twin."""
    output = git_output(root, "rev-parse", "--show-prefix")
    return output.strip() if output is not None else ""


def cq_shared_build_dir(root: Path) -> Path | None:
    """Cargo's build-dir that cq shares across the worktrees when ``cq.shared_target_dir`` is on
    (docs/cq.md: ``<git common dir>/buildkit/build-dir``), when Cargo made one there."""
    output = git_output(root, "rev-parse", "--path-format=absolute", "--git-common-dir")
    if not output or not output.strip():
        return None
    path = Path(output.strip()) / "buildkit" / "build-dir"
    if os.path.islink(path) or not path.is_dir() or not looks_like_target(path):
        return None
    return path


def locate_targets(
    worktrees: list[Worktree], subdir: str = "", shared_build_dir: Path | None = None
) -> list[TargetLocation]:
    """One entry per distinct target directory that exists on disk, plus cq's shared
    build-dir (where the worktrees' deps/ and incremental/ live when it is on)."""
    found: dict[Path, TargetLocation] = {}
    if shared_build_dir is not None:
        users = [wt.path for wt in worktrees if wt.exists]
        key = Path(os.path.abspath(shared_build_dir))
        found[key] = TargetLocation(key, users, False, "cq shared build-dir")
    for wt in worktrees:
        ws = wt.path / subdir if subdir else wt.path
        if wt.exists:
            configured = _configured_target_dir(ws)
            path, how = configured if configured else (ws / "target", "default")
            stale = False
        else:
            # the checkout is gone (or is no longer a worktree); what Cargo left behind stays
            path, how, stale = ws / "target", "stale worktree", True
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
    return locate_targets(worktrees, workspace_subdir(root), cq_shared_build_dir(root))


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


def _scan_profile(scan: TargetScan, walker: Walker, path: str, profile: str) -> Usage:
    used = walker.stat_only(path)[1]
    try:
        entries = {e.name: e for e in os.scandir(path)}
    except OSError:
        entries = {}
    # deps/ first: the copies Cargo uplifts into the profile directory are hard links to these
    order: list[str] = [n for n in ("deps", ".fingerprint", "build", "incremental") if n in entries]
    order += sorted(n for n in entries if n not in order)
    for name in order:
        entry = entries[name]
        if name in PROFILE_PARTS and entry.is_dir(follow_symlinks=False):
            used.add(walker.stat_only(entry.path)[1])
            used.add(_scan_part(scan, walker, entry.path, profile, name))
        else:
            used.add(walker.usage(entry.path))
    scan.profiles[profile] = scan.profiles.get(profile, 0) + used.bytes
    return used


def _scan_part(scan: TargetScan, walker: Walker, path: str, profile: str, part: str) -> Usage:
    used = Usage()
    try:
        entries = sorted(os.scandir(path), key=lambda e: e.name)
    except OSError:
        return used
    for entry in entries:
        item = walker.usage(entry.path)
        used.add(item)
        name = entry.name
        if part == "incremental":
            if entry.is_dir(follow_symlinks=False):
                crate = name.rsplit("-", 1)[0]
                scan.incremental.append(
                    IncrementalDir(Path(entry.path), crate, profile, item.bytes, item.newest_mtime)
                )
            continue
        match = UNIT_RE.match(name)
        if match is None:
            continue
        stem, hash_, ext = match["stem"], match["hash"], match["ext"] or ""
        unit = _unit(scan, profile, stem, hash_)
        unit.paths.append(Path(entry.path))
        unit.last_used = max(unit.last_used, item.newest_use)
        if part != "deps" or entry.is_symlink():
            continue
        if ext == ".rlib":
            scan.rlibs += 1
        if stem.startswith("lib") and ext in LIB_EXTS:
            crate = stem[3:]
            copy = f"{profile}/{hash_}"
            scan.lib_copies.setdefault(crate, set()).add(copy)
            per_copy = scan.lib_bytes.setdefault(crate, {})
            per_copy[copy] = per_copy.get(copy, 0) + item.bytes
    return used
