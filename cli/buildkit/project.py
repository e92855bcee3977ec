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
from buildkit.render.plan import Plan, build_plan
from buildkit.render.steps import StepContext, StepFailure
from buildkit.workspace import Workspace, detect_workspace, find_cargo, git_worktrees


@dataclass(frozen=True)
class StepReport:
    """One side-effect step: what it would do (dry run), did, or which verifications failed."""

    name: str
    lines: tuple[str, ...] = ()
    failures: tuple[StepFailure, ...] = ()


@dataclass(frozen=True)
class RenderResult:
    changes: tuple[Change, ...]
    written: tuple[Change, ...] = ()
    dry_run: bool = False
    steps: tuple[StepReport, ...] = ()

    @property
    def pending(self) -> list[Change]:
        return [c for c in self.changes if c.status is not Status.UNCHANGED]

    @property
    def step_failures(self) -> list[tuple[str, StepFailure]]:
        return [(s.name, f) for s in self.steps for f in s.failures]

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


def run_init(path: Path, *, dry_run: bool = False, force: bool = False,
             ctx: StepContext | None = None) -> InitResult:
    """Detect the workspace, write ``buildkit.yaml`` if absent, then render every artifact."""
    root = resolve_root(path)
    find_cargo()
    workspace = detect_workspace(root)
    profile_path = root / PROFILE_FILE
    created = not profile_path.exists()
    if created:
        text = initial_profile_text(workspace)
        profile = parse_profile(text, root=root, path=profile_path)
    else:
        profile = load_profile(root)
    result = _render(profile, dry_run=dry_run, force=force, ctx=ctx,
                     before_write=(lambda: atomic_write(profile_path, text)) if created else None)
    notes = []
    if not profile.hakari_enabled and len(workspace.members) < 2:
        notes.append("hakari: off, a single package has no features to unify across members, "
                     "so no workspace-hack crate")
    return InitResult(profile=profile, profile_created=created, workspace=workspace,
                      worktrees=tuple(git_worktrees(root)), render=result, notes=tuple(notes))


def run_render(path: Path, *, dry_run: bool = False, force: bool = False,
               ctx: StepContext | None = None) -> RenderResult:
    root = resolve_root(path)
    return _render(load_profile(root), dry_run=dry_run, force=force, ctx=ctx)


def run_check(path: Path) -> RenderResult:
    """Compare every artifact with the profile and run every step's verifications; the caller
    exits 1 when anything is pending or a verification failed."""
    root = resolve_root(path)
    plan = build_plan(load_profile(root))
    steps = tuple(StepReport(step.name, failures=tuple(step.check(root))) for step in plan.steps)
    return RenderResult(changes=tuple(compute_changes(root, plan.artifacts)), dry_run=True,
                        steps=steps)


def _render(profile: Profile, *, dry_run: bool, force: bool, ctx: StepContext | None = None,
            before_write: Any = None) -> RenderResult:
    plan: Plan = build_plan(profile)
    root = profile.root
    ctx = ctx or StepContext()
    changes = compute_changes(root, plan.artifacts)
    if dry_run:
        planned = tuple(StepReport(s.name, tuple(s.describe(root))) for s in plan.steps)
        return RenderResult(changes=tuple(changes), dry_run=True, steps=planned)
    conflicts = [c for c in changes if c.status is Status.CONFLICT]
    if conflicts and not force:
        raise ConflictError(conflicts)
    require_linker(profile.section("cargo"))
    # Everything a step needs (tools installed) is in place before the first file is written.
    for step in plan.steps:
        step.prepare(root, ctx)
    if before_write is not None:
        before_write()
    written = write_changes(root, changes, force=force)
    done = tuple(StepReport(s.name, tuple(s.apply(root, ctx))) for s in plan.steps)
    return RenderResult(changes=tuple(changes), written=tuple(written), steps=done)


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
