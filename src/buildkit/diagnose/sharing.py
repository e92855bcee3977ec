"""Whether a repository's worktrees share a target or build dir: the wrong-code hazard.

Each worktree builds in its own target dir; compiled units are shared by content through the
compiler cache (docs/cq.md), never by pointing two worktrees at one directory. A target or
build dir several worktrees resolve to (``CARGO_TARGET_DIR`` in the shell,
``build.target-dir``/``build.build-dir`` in a config file pointing outside the worktree) can
run one worktree's code in another: Cargo gives a workspace crate the same unit hash in every
worktree and compares this worktree's mtimes with another's outputs (rust-lang/cargo#12516).
Cargo itself says where each worktree builds (``cargo metadata``), so every way of setting it
(environment, any config file, path templates) is read as Cargo reads it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from buildkit.diagnose.targets import Worktree, cargo_dirs

HAZARD = "wrong_code_hazard"


@dataclass(frozen=True)
class SharedDir:
    """A target or build dir that several worktrees resolve to."""

    kind: str  # "target-dir" or "build-dir"
    path: Path
    worktrees: tuple[Path, ...]


def shared_dirs(worktrees: list[Worktree], subdir: str = "") -> list[SharedDir]:
    """Every target or build dir that two or more existing worktrees resolve to."""
    users: dict[tuple[str, Path], list[Path]] = {}
    for wt in worktrees:
        if not wt.exists:
            continue
        workspace = wt.path / subdir if subdir else wt.path
        for kind, path in cargo_dirs(workspace).items():
            users.setdefault((kind, path), []).append(wt.path)
    return [
        SharedDir(kind, path, tuple(paths))
        for (kind, path), paths in users.items()
        if len(paths) > 1
    ]


def inspect(worktrees: list[Worktree], subdir: str = "") -> dict[str, Any]:
    """doctor's ``sharing`` section: every directory several worktrees build in."""
    return {
        "shared_dirs": [
            {"kind": s.kind, "path": str(s.path), "worktrees": [str(w) for w in s.worktrees]}
            for s in shared_dirs(worktrees, subdir)
        ],
    }


def describe(sharing: dict[str, Any]) -> str:
    """doctor's text line on isolation."""
    shared = sharing["shared_dirs"]
    if not shared:
        return "isolation: each worktree builds in its own target dir"
    return f"isolation: {len(shared)} target or build dir(s) shared by several worktrees"


def findings(sharing: dict[str, Any]) -> list[dict[str, Any]]:
    """One finding per shared directory: the wrong-code hazard."""
    out = []
    for shared in sharing["shared_dirs"]:
        out.append(
            {
                "kind": HAZARD,
                "path": shared["path"],
                "message": (
                    f"{len(shared['worktrees'])} worktrees share the {shared['kind']} "
                    f"{shared['path']}: cargo can run one worktree's code in another "
                    "(rust-lang/cargo#12516)"
                ),
                "recommendation": (
                    "unset CARGO_TARGET_DIR/CARGO_BUILD_TARGET_DIR/CARGO_BUILD_BUILD_DIR and "
                    "remove build.target-dir/build.build-dir pointing outside the worktree "
                    "from .cargo/config.toml; buildkit shares compiled units across worktrees "
                    "through its compiler cache instead (docs/cq.md)"
                ),
                "bytes": 0,
            }
        )
    return out
