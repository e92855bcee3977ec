"""The library behind ``buildkit init``, ``render`` and ``check``: what the CLI and tests call."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from buildkit.errors import BadInput, CheckFailed
from buildkit.profile import PROFILE_FILE, PROFILE_VERSION, Profile, load_profile, parse_profile
from buildkit.render.apply import Change, Status, atomic_write, compute_changes, write_changes
from buildkit.render.cargo_config import require_linker
from buildkit.render.plan import build_plan
from buildkit.workspace import Workspace, detect_workspace, find_cargo, git_worktrees


@dataclass(frozen=True)
class RenderResult:
    changes: tuple[Change, ...]
    written: tuple[Change, ...] = ()
    dry_run: bool = False

    @property
    def pending(self) -> list[Change]:
        return [c for c in self.changes if c.status is not Status.UNCHANGED]

    @property
    def conflicts(self) -> list[Change]:
        return [c for c in self.changes if c.status is Status.CONFLICT]


@dataclass(frozen=True)
class InitResult:
    profile: Profile
    profile_created: bool
    workspace: Workspace
    worktrees: tuple[Path, ...]
    render: RenderResult
    notes: tuple[str, ...] = field(default=())


def resolve_root(path: Path) -> Path:
    root = path.expanduser().resolve()
    if not root.is_dir():
        raise BadInput(f"{path}: not a directory; pass the root of a Cargo workspace")
    if not (root / "Cargo.toml").is_file():
        raise BadInput(
            f"{root}: no Cargo.toml here; run buildkit at the root of a Cargo workspace or package"
        )
    return root


def run_init(path: Path, *, dry_run: bool = False, force: bool = False) -> InitResult:
    """Detect the workspace, write ``buildkit.yaml`` if absent, then render every artifact."""
    root = resolve_root(path)
    find_cargo()
    workspace = detect_workspace(root)
    profile_path = root / PROFILE_FILE
    new_profile_text = None if profile_path.exists() else initial_profile_text(workspace)
    if new_profile_text is None:
        profile = load_profile(root)
    else:
        profile = parse_profile(new_profile_text, root=root, path=profile_path)
    result = _render(profile, dry_run=dry_run, force=force, new_profile_text=new_profile_text)
    notes = []
    if not profile.hakari_enabled and len(workspace.members) < 2:
        notes.append("hakari: off, a single package has no features to unify across members")
    return InitResult(
        profile=profile,
        profile_created=new_profile_text is not None,
        workspace=workspace,
        worktrees=tuple(git_worktrees(root)),
        render=result,
        notes=tuple(notes),
    )


def run_render(path: Path, *, dry_run: bool = False, force: bool = False) -> RenderResult:
    root = resolve_root(path)
    return _render(load_profile(root), dry_run=dry_run, force=force)


def run_check(path: Path) -> RenderResult:
    """Compare every artifact with the profile; the caller exits 1 when anything is pending."""
    root = resolve_root(path)
    profile = load_profile(root)
    return RenderResult(
        changes=tuple(compute_changes(root, build_plan(profile).artifacts)), dry_run=True
    )


def _render(
    profile: Profile, *, dry_run: bool, force: bool, new_profile_text: str | None = None
) -> RenderResult:
    """Compute every change first; write only when nothing stands in the way."""
    changes = compute_changes(profile.root, build_plan(profile).artifacts)
    result = RenderResult(changes=tuple(changes), dry_run=dry_run)
    if dry_run:
        return result
    if result.conflicts and not force:
        raise ConflictError(result.conflicts)
    require_linker(profile.section("cargo"))
    if new_profile_text is not None:
        atomic_write(profile.path, new_profile_text)
    written = write_changes(profile.root, changes, force=force)
    return RenderResult(changes=tuple(changes), written=tuple(written))


class ConflictError(CheckFailed):
    """Files the user edited stand in the way; nothing was written."""

    def __init__(self, conflicts: Sequence[Change]) -> None:
        self.conflicts = tuple(conflicts)
        first = conflicts[0]
        more = f" (and {len(conflicts) - 1} more)" if len(conflicts) > 1 else ""
        super().__init__(
            f"{first.path} {first.reason}{more}; nothing was written: move your edits into "
            "buildkit.yaml, or run again with --force to overwrite them"
        )


def initial_profile_text(workspace: Workspace) -> str:
    """The first ``buildkit.yaml``: workspace facts, the choices init made, and pointers."""
    hakari: dict[str, Any] = {"enabled": len(workspace.members) >= 2}
    if workspace.resolver and workspace.resolver in {"1", "2", "3"}:
        hakari["resolver"] = workspace.resolver
    data = {
        "version": PROFILE_VERSION,
        "workspace": workspace.as_profile_section(),
        "hakari": hakari,
    }
    header = (
        "# buildkit's project profile: the one source of truth for this repository's cargo\n"
        "# settings, cq build queue, cargo-hakari setup, CI workflow and devcontainer.\n"
        "# Every section (cargo, env, cq, hakari, ci, devcontainer, machine) and key is described\n"
        "# in buildkit's docs/profile.md; omitted keys take their defaults.\n"
        "# After editing, run `buildkit render`; `buildkit check` fails when files drift.\n"
    )
    return header + yaml.safe_dump(data, sort_keys=False, default_flow_style=False)
