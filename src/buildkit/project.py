"""The library behind ``buildkit init``, ``render`` and ``check``: what the CLI and tests call."""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from buildkit.diagnose.targets import workspace_root
from buildkit.errors import BadInput, CheckFailed, ToolFailed
from buildkit.profile import PROFILE_FILE, PROFILE_VERSION, Profile, load_profile, parse_profile
from buildkit.profile.facts import (
    ProfileFile,
    record_workspace_section,
    recorded_facts,
    workspace_changes,
)
from buildkit.profile.model import HakariResolver
from buildkit.profile.schema import SECTIONS
from buildkit.render.apply import Change, Status, changes_written, compute_changes
from buildkit.render.cargo_config import require_linker
from buildkit.render.ci_workflow import job_names
from buildkit.render.hakari import drop_workspace_hack
from buildkit.render.ownership import Artifact, ConflictKind
from buildkit.render.plan import build_plan
from buildkit.render.snapshot import Snapshot
from buildkit.render.steps import StepContext, StepFailure
from buildkit.results import json_result
from buildkit.survey import MOVABLE_PATHS, Survey, next_free_path, survey
from buildkit.workspace import (
    Workspace,
    detect_workspace,
    find_cargo,
    git_output,
    git_worktrees,
)


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
    stale_facts: tuple[str, ...] = ()  # how buildkit.yaml's workspace section went stale
    steps: tuple[StepReport, ...] = ()

    @property
    def active(self) -> list[Change]:
        """Artifacts that are on (or still to be removed): an off artifact that is not on disk
        is no artifact at all."""
        return [c for c in self.changes if c.before is not None or c.after is not None]

    @property
    def pending(self) -> list[Change]:
        return [c for c in self.changes if c.status is not Status.UNCHANGED]

    @property
    def step_failures(self) -> list[tuple[str, StepFailure]]:
        return [(s.name, f) for s in self.steps for f in s.failures]

    @property
    def conflicts(self) -> list[Change]:
        return [c for c in self.changes if c.status is Status.CONFLICT]

    def to_json(self) -> dict[str, Any]:
        """The stable machine-readable form (``buildkit check --json``; README documents it)."""
        return json_result(
            "check",
            {
                "ok": not self.pending and not self.step_failures,
                "artifacts": [
                    {
                        "path": c.path,
                        "ownership": c.artifact.ownership,
                        "status": c.status.value,
                        "reason": c.reason,
                        "diff": c.diff() if c.status is not Status.UNCHANGED else "",
                    }
                    for c in self.active
                ],
                "stale_facts": list(self.stale_facts),
                "steps": [
                    {
                        "name": s.name,
                        "ok": not s.failures,
                        "failures": [{"what": f.what, "detail": f.detail} for f in s.failures],
                    }
                    for s in self.steps
                ],
            },
        )


@dataclass(frozen=True)
class InitResult:
    profile: Profile
    profile_created: bool
    workspace: Workspace
    worktrees: tuple[Path, ...]
    render: RenderResult
    notes: tuple[str, ...] = field(default=())
    survey: Survey | None = None  # what init read from the repository (a new profile only)
    summary: tuple[str, ...] = ()  # what init found and what it chose

    def to_json(self) -> dict[str, Any]:
        """``buildkit init --json``: the survey, the choices, and the render."""
        render = {k: v for k, v in self.render.to_json().items() if k not in ("format", "command")}
        return json_result(
            "init",
            {
                "profile_created": self.profile_created,
                "found": self.survey.to_json() if self.survey else None,
                "summary": list(self.summary),
                "notes": list(self.notes),
                "render": render,
            },
        )


def resolve_root(path: Path) -> Path:
    """The Cargo workspace ``path`` lies in (``cargo locate-project --workspace``: a member
    crate's folder means its workspace, as for doctor and gc; a nested workspace of its own is
    never mistaken for an outer one)."""
    start = path.expanduser().resolve()
    if not start.is_dir():
        raise BadInput(f"{path}: not a directory; pass the root of a Cargo workspace")
    root = workspace_root(start)
    if not (root / "Cargo.toml").is_file():
        raise BadInput(
            f"{start}: no Cargo.toml here; run buildkit at the root of a Cargo workspace or package"
        )
    return root


def run_init(
    path: Path,
    *,
    dry_run: bool = False,
    force: bool = False,
    ctx: StepContext | None = None,
    cq_path: str | None = None,
    run_clippy: bool = True,
) -> InitResult:
    """Detect the workspace, write ``buildkit.yaml`` if absent, then render every artifact.

    A new profile is prefilled from a survey of the repository (default branch, MSRV, the
    workflows it already has, files of the user's own at buildkit's paths); ``run_clippy``
    lets that survey run clippy (never in a dry run: it writes target/).
    """
    root = resolve_root(path)
    if cq_path is not None:
        cq_path = _relative_path(cq_path, "--cq-path")
        if (root / PROFILE_FILE).exists():
            raise BadInput(
                f"{root / PROFILE_FILE}: exists, so --cq-path is not used; set cq.path there"
            )
    state = current_profile(root, create=True, cq_path=cq_path)
    # Bad files and conflicts surface (in _changes) before clippy spends minutes compiling.
    if (
        state.created
        and run_clippy
        and not dry_run
        and (force or not any(c.status is Status.CONFLICT for c in _changes(state)))
    ):
        progress = ctx.progress if ctx else None
        state = current_profile(
            root, create=True, cq_path=cq_path, run_clippy=True, progress=progress
        )
    result = _render(state, dry_run=dry_run, force=force, ctx=ctx)
    notes = []
    if not state.profile.hakari_enabled and len(state.workspace.members) < 2:
        notes.append(
            "hakari: off, a single package has no features to unify across members, "
            "so no workspace-hack crate"
        )
    prefix = (git_output(root, "rev-parse", "--show-prefix") or "").strip()
    if prefix and state.profile.model.ci.enabled:
        notes.append(
            f"ci: this workspace is in {prefix} of its git repository, and GitHub runs only "
            f"the repository root's .github/workflows: move {state.profile.model.ci.path} "
            f"there and give its jobs `defaults: run: working-directory: {prefix.rstrip('/')}`,"
            " or set ci.enabled: false"
        )
    summary: tuple[str, ...] = ()
    if state.survey is not None:
        jobs = tuple(job_names(state.profile)) if state.profile.model.ci.enabled else ()
        summary = tuple(state.survey.summary(state.choices, jobs))
    return InitResult(
        profile=state.profile,
        profile_created=state.created,
        workspace=state.workspace,
        worktrees=tuple(git_worktrees(root)),
        render=result,
        notes=tuple(notes),
        survey=state.survey,
        summary=summary,
    )


def _relative_path(value: str, option: str) -> str:
    posix = Path(value).as_posix()
    if Path(value).is_absolute() or ".." in Path(value).parts or not posix or posix == ".":
        raise BadInput(
            f"{option} {value}: give a file path inside the repository, relative to its root "
            "(e.g. scripts/buildkit-cq)"
        )
    return posix


def run_render(
    path: Path, *, dry_run: bool = False, force: bool = False, ctx: StepContext | None = None
) -> RenderResult:
    state = current_profile(resolve_root(path), create=False)
    return _render(state, dry_run=dry_run, force=force, ctx=ctx)


def run_check(path: Path) -> RenderResult:
    """Compare every artifact with the profile and run every step's verifications; the caller
    exits 1 when anything is pending or a verification failed."""
    state = current_profile(resolve_root(path), create=False)
    root = state.profile.root
    steps = tuple(
        StepReport(step.name, failures=tuple(step.check(root)))
        for step in build_plan(state.profile).steps
    )
    return RenderResult(
        changes=tuple(_changes(state)), dry_run=True, stale_facts=state.fact_changes, steps=steps
    )


@dataclass(frozen=True)
class ProfileState:
    """The profile to render from, and what ``buildkit.yaml`` itself must become."""

    profile: Profile
    workspace: Workspace
    created: bool
    rewrite: ProfileFile | None  # None: buildkit.yaml stays as it is
    fact_changes: tuple[str, ...] = ()
    survey: Survey | None = None
    choices: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)


def current_profile(
    root: Path,
    *,
    create: bool,
    cq_path: str | None = None,
    run_clippy: bool = False,
    progress: Callable[[str], None] | None = None,
) -> ProfileState:
    """Load (or, for init, create) the profile with workspace facts as cargo reports them now.

    A profile without a ``workspace`` section gets the detected facts in memory only; a
    recorded section that went stale is rewritten in place (it is detected, not chosen), unless
    it was edited by hand (then the render is refused without --force: ``ProfileFile``).
    """
    find_cargo()
    everything = detect_workspace(root)
    workspace = drop_workspace_hack(everything, root)
    detected = workspace.as_profile_section()
    path = root / PROFILE_FILE
    if create and not path.exists():
        found = survey(
            root,
            workspace,
            run_clippy=run_clippy,
            cq_path=cq_path,
            progress=progress,
            all_members=everything.members,
        )
        choices = found.choices()
        text = initial_profile_text(workspace, choices)
        profile = parse_profile(text, root=root, path=path)
        if profile.model.ci.enabled and not job_names(profile):
            # The repository's workflows run every check and nothing is left to add.
            choices = {**choices, "ci": {**choices.get("ci", {}), "enabled": False}}
            text = initial_profile_text(workspace, choices)
            profile = parse_profile(text, root=root, path=path)
        return ProfileState(
            profile, workspace, True, ProfileFile(PROFILE_FILE, text), survey=found, choices=choices
        )
    profile = load_profile(root)
    text = path.read_text(encoding="utf-8")
    if not recorded_facts(text)[0]:
        in_memory = Profile(root=root, path=path, data={**profile.data, "workspace": detected})
        return ProfileState(in_memory, workspace, False, None)
    stale = workspace_changes(dataclasses.asdict(profile.model.workspace), detected)
    if not stale:
        return ProfileState(profile, workspace, False, None)
    text = record_workspace_section(text, detected)
    refreshed = parse_profile(text, root=root, path=path)
    return ProfileState(refreshed, workspace, False, ProfileFile(PROFILE_FILE, text), tuple(stale))


def _changes(state: ProfileState) -> list[Change]:
    artifacts: list[Artifact] = [state.rewrite] if state.rewrite else []
    artifacts += build_plan(state.profile).artifacts
    return compute_changes(state.profile.root, artifacts)


def _render(
    state: ProfileState, *, dry_run: bool, force: bool, ctx: StepContext | None = None
) -> RenderResult:
    """Compute every change first; write only when nothing stands in the way; then run the
    plan's side-effect steps."""
    profile = state.profile
    root = profile.root
    steps = build_plan(profile).steps
    changes = _changes(state)
    result = RenderResult(changes=tuple(changes), dry_run=dry_run, stale_facts=state.fact_changes)
    if dry_run:
        planned = tuple(StepReport(s.name, tuple(s.describe(root))) for s in steps)
        return replace(result, steps=planned)
    # a rival key (a runner of the user's) cannot be forced: cargo would ignore or refuse ours
    rivals = [c for c in result.conflicts if c.conflict is ConflictKind.RIVAL]
    if rivals or (result.conflicts and not force):
        raise ConflictError(rivals or result.conflicts, root)
    require_linker(profile.model.cargo)
    # Everything a step needs (a tool installed) is in place before the first file is written.
    ctx = ctx or StepContext()
    for step in steps:
        step.prepare(root, ctx)
    # The steps' tools write the repository themselves: what they may touch is copied first
    # and put back, with every file written here, when one fails.
    touched = Snapshot.take(root, [path for step in steps for path in step.touches(root)])
    with changes_written(root, changes, force=force) as written:
        try:
            done = tuple(StepReport(s.name, tuple(s.apply(root, ctx))) for s in steps)
        except ToolFailed as exc:
            touched.restore()
            raise ToolFailed(
                f"{exc.message}; nothing was changed (every file is as before)", path=exc.path
            ) from None
        except BaseException:
            touched.restore()
            raise
    return RenderResult(
        changes=tuple(changes),
        written=tuple(written),
        stale_facts=state.fact_changes,
        steps=done,
    )


class ConflictError(CheckFailed):
    """Files the user edited stand in the way; nothing was written."""

    def __init__(
        self, conflicts: Sequence[Change], root: Path | None = None, force_hint: str = "--force"
    ) -> None:
        self.conflicts = tuple(conflicts)
        first = conflicts[0]
        more = f" (and {len(conflicts) - 1} more)" if len(conflicts) > 1 else ""
        if first.conflict is ConflictKind.NOT_OURS:
            super().__init__(f"{first.path}{more}: {not_ours_advice(first.path, root)}")
            return
        if first.conflict is ConflictKind.RIVAL:
            # --force could not help: cargo would still ignore or refuse one of the two keys
            super().__init__(f"{first.path} {first.reason}{more}; nothing was written")
            return
        if first.conflict is ConflictKind.FACTS:
            super().__init__(
                f"{first.path}: {first.reason}{more}, and cargo metadata now reports other "
                "facts; nothing was written: run again with --force to record the detected "
                "facts there, or delete the workspace section (buildkit then uses the detected "
                "facts without recording them)"
            )
            return
        if first.conflict is ConflictKind.USER_KEY and first.profile_key:
            # A key the user set, not an edit of buildkit's: keeping it is a profile choice.
            source = first.profile_key
            super().__init__(
                f"{first.path} {first.reason}{more}; nothing was written: to keep your value, "
                f"set {source} to it (or to null) in buildkit.yaml (`buildkit init` writes one "
                f"first if you have none), or run again with {force_hint} to let buildkit manage "
                "the key (your value is kept in its comment and comes back when buildkit stops)"
            )
            return
        super().__init__(
            f"{first.path} {first.reason}{more}; nothing was written: move your edits into "
            f"buildkit.yaml, or run again with {force_hint} to overwrite them"
        )


def not_ours_advice(path: str, root: Path | None) -> str:
    """A user's own file where buildkit would write: keep it, and say how buildkit's file can
    go elsewhere (never "move your edits into buildkit.yaml": buildkit never wrote it)."""
    keys = {default: key for key, default in MOVABLE_PATHS}
    start = "a file of your own is there (buildkit did not write it); nothing was written"
    if path in keys and root is not None:
        free = next_free_path(root, path)
        option = " (or `buildkit init --cq-path " + free + "`)" if keys[path] == "cq.path" else ""
        return (
            f"{start}: keep it and put buildkit's file elsewhere with `{keys[path]}: {free}` in "
            f"buildkit.yaml{option}; --force replaces your file"
        )
    return f"{start}: move or rename it to keep it; --force replaces your file"


def initial_profile_text(
    workspace: Workspace, choices: Mapping[str, Mapping[str, Any]] | None = None
) -> str:
    """The first ``buildkit.yaml``: workspace facts, the choices init made, and pointers."""
    hakari: dict[str, Any] = {"enabled": len(workspace.members) >= 2}
    if workspace.resolver and workspace.resolver in typing.get_args(HakariResolver):
        hakari["resolver"] = workspace.resolver
    data: dict[str, Any] = {
        "version": PROFILE_VERSION,
        "workspace": workspace.as_profile_section(),
        "hakari": hakari,
    }
    for section, values in (choices or {}).items():
        data[section] = {**data.get(section, {}), **values}
    # The section list comes from the schema, so it cannot leave one out.
    chosen = ", ".join(s for s in SECTIONS if s != "workspace")
    header = (
        "# buildkit's project profile: the one source of truth for this repository's cargo\n"
        "# settings, cq build queue, compiler cache, cargo-hakari setup, CI workflow,\n"
        "# devcontainer and agent hooks. Every section and key is described in buildkit's\n"
        f"# docs/profile.md: {chosen};\n"
        "# omitted keys take their defaults. `workspace` is what cargo metadata reports: buildkit\n"
        "# keeps it current. After editing, run `buildkit render`; `buildkit check` fails when\n"
        "# files drift.\n"
    )
    text = header + yaml.safe_dump(data, sort_keys=False, default_flow_style=False)
    return record_workspace_section(text, data["workspace"])  # under its checksum line
