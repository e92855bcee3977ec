"""Where a repository's worktrees build, and whether they share a directory outside cq.

cq shares one build-dir across worktrees and rebuilds the path packages whenever another
worktree built last (docs/cq.md). A target or build dir shared by several worktrees some other
way (``CARGO_TARGET_DIR`` in the shell, ``build.target-dir``/``build.build-dir`` in a config
file pointing outside the worktree) has no such guard: Cargo gives a workspace crate the same
unit in every worktree and can run one worktree's code in another (rust-lang/cargo#17312).
Cargo itself says where each worktree builds (``cargo metadata``), so every way of setting it
(environment, any config file, path templates) is read as Cargo reads it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from buildkit.diagnose.targets import Worktree, cargo_dirs, cq_shared_build_dir

HAZARD = "wrong_code_hazard"


@dataclass(frozen=True)
class SharedByHand:
    """A target or build dir that several worktrees resolve to without cq."""

    kind: str  # "target-dir" or "build-dir"
    path: Path
    worktrees: tuple[Path, ...]


def shared_by_hand(worktrees: list[Worktree], subdir: str = "") -> list[SharedByHand]:
    """Every target or build dir that two or more existing worktrees resolve to."""
    users: dict[tuple[str, Path], list[Path]] = {}
    for wt in worktrees:
        if not wt.exists:
            continue
        workspace = wt.path / subdir if subdir else wt.path
        for kind, path in cargo_dirs(workspace).items():
            users.setdefault((kind, path), []).append(wt.path)
    return [
        SharedByHand(kind, path, tuple(paths))
        for (kind, path), paths in users.items()
        if len(paths) > 1
    ]


def last_builder(build_dir: Path) -> str | None:
    """The workspace whose cq build used the shared build-dir last (cq's record beside it)."""
    try:
        text = (build_dir.parent / "share-state" / "builder").read_text(encoding="utf-8")
    except OSError:
        return None
    return text.strip() or None


def inspect(root: Path, worktrees: list[Worktree], subdir: str = "") -> dict[str, Any]:
    """doctor's ``sharing`` section: cq's shared build-dir and any directory the worktrees
    share outside cq."""
    build_dir = cq_shared_build_dir(root)
    return {
        "cq_build_dir": str(build_dir) if build_dir else None,
        "cq_last_builder": last_builder(build_dir) if build_dir else None,
        "shared_outside_cq": [
            {"kind": s.kind, "path": str(s.path), "worktrees": [str(w) for w in s.worktrees]}
            for s in shared_by_hand(worktrees, subdir)
        ],
    }


def describe(sharing: dict[str, Any]) -> str:
    """doctor's text line for cq's shared build-dir."""
    if not sharing["cq_build_dir"]:
        return "cq's shared build-dir: none (each worktree builds in its own target dir)"
    last = sharing["cq_last_builder"] or "nobody yet"
    return f"cq's shared build-dir: {sharing['cq_build_dir']} (last built by {last})"


def findings(sharing: dict[str, Any]) -> list[dict[str, Any]]:
    """One finding per directory shared outside cq: the wrong-code hazard."""
    out = []
    for shared in sharing["shared_outside_cq"]:
        out.append(
            {
                "kind": HAZARD,
                "path": shared["path"],
                "message": (
                    f"{len(shared['worktrees'])} worktrees share the {shared['kind']} "
                    f"{shared['path']} outside cq: cargo can run one worktree's code in another "
                    "(rust-lang/cargo#17312)"
                ),
                "recommendation": (
                    "unset CARGO_TARGET_DIR/CARGO_BUILD_TARGET_DIR/CARGO_BUILD_BUILD_DIR and "
                    "remove build.target-dir/build.build-dir pointing outside the worktree "
                    "from .cargo/config.toml; cq shares a build-dir safely "
                    "(cq.shared_target_dir, docs/cq.md)"
                ),
                "bytes": 0,
            }
        )
    return out
