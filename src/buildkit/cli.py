"""The command line: a thin typer layer; every command body is one call into the library."""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

import typer

from buildkit import __version__, diagnose, project, worktrees
from buildkit import provision as provisioning
from buildkit.errors import EXIT_DRIFT, BuildkitError, exit_code_of, one_line
from buildkit.profile import profile_schema
from buildkit.render.apply import Change, Status
from buildkit.render.steps import StepContext

app = typer.Typer(
    help="Stop Rust builds from eating disks and CPUs where many builds run at once.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

PathArg = Annotated[
    Path, typer.Argument(help="Root of the Cargo workspace (or package).", show_default=True)
]
DryRun = Annotated[
    bool, typer.Option("--dry-run", "-n", help="Write nothing; list what would change.")
]
ShowDiff = Annotated[bool, typer.Option("--diff", help="Show a unified diff of each change.")]
Force = Annotated[
    bool, typer.Option("--force", help="Overwrite files whose generated parts you edited.")
]
Yes = Annotated[
    bool,
    typer.Option("--yes", "-y", help="Answer yes to every question (e.g. install cargo-hakari)."),
]

_state = {"debug": False}


def _version(value: bool) -> None:
    if value:
        typer.echo(f"buildkit {__version__}")
        raise typer.Exit()


@app.callback()
def main_options(
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks on errors.")] = False,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")
    ] = False,
) -> None:
    _state["debug"] = debug


@contextlib.contextmanager
def _errors() -> Iterator[None]:
    """Library errors become one line on stderr and an exit code, here and nowhere else."""
    try:
        yield
    except BuildkitError as exc:
        if _state["debug"]:
            raise
        typer.echo(one_line(exc), err=True)
        if isinstance(exc, project.ConflictError):
            for change in exc.conflicts:
                sys.stderr.write(change.diff())
        raise typer.Exit(exit_code_of(exc)) from None


@app.command()
def init(
    path: PathArg = Path(),
    yes: Yes = False,
    dry_run: DryRun = False,
    diff: ShowDiff = False,
    force: Force = False,
    cq_path: Annotated[
        str | None,
        typer.Option(
            "--cq-path",
            help="Where buildkit writes cq (cq.path), e.g. when scripts/cq is a file of yours.",
        ),
    ] = None,
    no_clippy: Annotated[
        bool,
        typer.Option(
            "--no-probes",
            "--no-clippy",
            help="Do not compile the workspace (cargo clippy, cargo test) to learn what CI can "
            "check today.",
        ),
    ] = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print what init found, chose and did as JSON.")
    ] = False,
) -> None:
    """Detect the workspace, write buildkit.yaml if absent, and render every artifact.

    A new buildkit.yaml is prefilled from the repository: default branch, rust-version, the
    checks its own workflows already run, files of yours at buildkit's paths.
    """
    with _errors():
        result = project.run_init(
            path,
            dry_run=dry_run,
            force=force,
            ctx=_step_context(yes),
            cq_path=cq_path,
            run_clippy=not no_clippy,
        )
    if as_json:
        typer.echo(json.dumps(result.to_json(), indent=2))
        return
    members = ", ".join(m.name for m in result.workspace.members)
    typer.echo(f"{result.workspace.kind}: {len(result.workspace.members)} member(s) ({members})")
    if not result.profile_created:
        typer.echo("using the existing buildkit.yaml")
    if len(result.worktrees) > 1:
        typer.echo(f"git worktrees: {len(result.worktrees)} (cq queues builds across them)")
    for line in result.summary:
        typer.echo(line)
    for note in result.notes:
        typer.echo(note)
    _report(result.render, diff=diff, force=force)


@app.command()
def render(
    path: PathArg = Path(),
    dry_run: DryRun = False,
    diff: ShowDiff = False,
    force: Force = False,
    yes: Yes = False,
) -> None:
    """Render every artifact from buildkit.yaml, then run the side-effect steps (hakari)."""
    with _errors():
        result = project.run_render(path, dry_run=dry_run, force=force, ctx=_step_context(yes))
    _report(result, diff=diff, force=force)


@app.command()
def check(
    path: PathArg = Path(),
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the result as JSON on stdout (README).")
    ] = False,
) -> None:
    """Exit 1 when a generated file differs from what buildkit.yaml renders (CI, pre-commit)."""
    with _errors():
        result = project.run_check(path)
    if as_json:
        report = result.to_json()
        typer.echo(json.dumps(report, indent=2))
        if not report["ok"]:
            raise typer.Exit(EXIT_DRIFT)
        return
    failures = result.step_failures
    if not result.pending and not failures:
        verified = "".join(f"; {s.name} verified" for s in result.steps)
        typer.echo(f"ok: {len(result.active)} artifact(s) match buildkit.yaml{verified}")
        return
    for change in result.pending:
        typer.echo(f"drift: {change.path}: {_drift_reason(change, result)}", err=True)
        sys.stdout.write(change.diff())
    for name, failure in failures:
        typer.echo(f"drift: {name}: {failure.what}", err=True)
        if failure.detail:
            sys.stdout.write(failure.detail + "\n")
    if result.pending:
        edited = len(result.conflicts)
        fix = (
            f"{edited} of them edited by hand: move the edits into buildkit.yaml, or "
            "`buildkit render --force` overwrites them; otherwise "
            if edited
            else ""
        )
        typer.echo(
            f"{len(result.pending)} artifact(s) drifted; {fix}run `buildkit render` "
            "(or `buildkit render --diff` to see the changes)",
            err=True,
        )
    for name in sorted({name for name, _ in failures}):
        typer.echo(f"{name}: verification failed; run `buildkit render` to fix it", err=True)
    raise typer.Exit(EXIT_DRIFT)


def _step_context(yes: bool) -> StepContext:
    """Questions go to the terminal when there is one; progress goes to stderr."""
    interactive = sys.stdin.isatty() and sys.stderr.isatty()
    return StepContext(
        yes=yes,
        confirm=_confirm if interactive else None,
        progress=lambda line: typer.echo(line, err=True),
    )


def _confirm(question: str) -> bool:
    return typer.confirm(question, default=True, err=True)


@app.command()
def schema() -> None:
    """Print the JSON Schema of buildkit.yaml (for editors and other tools)."""
    typer.echo(json.dumps(profile_schema(), indent=2))


RepoArg = Annotated[
    Path, typer.Argument(help="The repository (any of its worktrees).", show_default=True)
]
AsJson = Annotated[
    bool, typer.Option("--json", help="Print the stable JSON format (docs/doctor.md).")
]
Progress = Annotated[
    bool, typer.Option("--progress", help="Show scan progress on stderr even when not a TTY.")
]


@app.command()
def doctor(
    path: RepoArg = Path(),
    as_json: AsJson = False,
    progress: Progress = False,
    kill_orphans: Annotated[
        bool,
        typer.Option(
            "--kill-orphans",
            help="Stop the orphans listed (TERM, KILL after cq.grace_seconds); report them.",
        ),
    ] = False,
) -> None:
    """Measure the target dirs of every worktree and say what to fix.

    Size, incremental dirs, duplicate crates, orphans, setup; each finding with its fix.
    """
    with _errors():
        report = diagnose.run_doctor(
            path,
            progress=diagnose.stderr_progress(progress or sys.stderr.isatty()),
            kill_orphans=kill_orphans,
        )
    typer.echo(json.dumps(report.data, indent=2) if as_json else diagnose.render_text(report))


@app.command()
def gc(
    path: RepoArg = Path(),
    dry_run: Annotated[
        bool, typer.Option("--dry-run", "-n", help="Delete nothing; list exactly what would go.")
    ] = False,
    keep: Annotated[int, typer.Option("--keep", help="Incremental dirs kept per crate.")] = 1,
    older_than: Annotated[
        str,
        typer.Option("--older-than", help="Remove artifacts unused this long (30d, 12h)."),
    ] = "30d",
    no_queue: Annotated[
        bool, typer.Option("--no-queue", help="Do not wait for cq's queue before deleting.")
    ] = False,
    max_size: Annotated[
        str | None,
        typer.Option(
            "--max-size", help="Remove least-recently-used units until target dirs fit (20G)."
        ),
    ] = None,
    as_json: AsJson = False,
    progress: Progress = False,
) -> None:
    """Remove what Cargo never collects, holding cq's queue.

    Stale incremental dirs, unused artifacts, the target dirs of removed worktrees.
    """
    with _errors():
        result = diagnose.run_gc(
            path,
            dry_run=dry_run,
            keep=keep,
            older_than=older_than,
            use_queue=not no_queue,
            max_size=max_size,
            progress=diagnose.stderr_progress(progress or sys.stderr.isatty()),
        )
    typer.echo(
        json.dumps(result.to_json(), indent=2) if as_json else diagnose.render_gc_text(result)
    )


@app.command()
def provision(
    path: Annotated[
        Path, typer.Argument(help="The folder holding buildkit.yaml.", show_default=True)
    ] = Path(),
    check: Annotated[
        bool,
        typer.Option("--check", help="Change nothing; exit 1 when the machine needs changes."),
    ] = False,
    diff: ShowDiff = False,
    force: Force = False,
) -> None:
    """Apply buildkit.yaml's machine section to this machine with ansible.

    cq on PATH, user cargo settings, the env in the shell's rc file, cargo-hakari. A hand
    edit of buildkit's part of a file is refused, as by render, unless --force.

    Needs ansible-core: pip install 'buildkit-rs\\[machine]'.
    """
    with _errors():
        provisioning.run_provision(path, check=check, diff=diff, force=force)


worktree_app = typer.Typer(
    help="Create and remove worktrees ready to build, as Claude Code's hooks do (docs/agents.md).",
    no_args_is_help=True,
)
app.add_typer(worktree_app, name="worktree")
RepoOption = Annotated[
    Path, typer.Option("--repo", "-C", help="The repository (any of its worktrees).")
]


@worktree_app.command("add")
def worktree_add(
    name: Annotated[str, typer.Argument(help="The worktree's name: .claude/worktrees/NAME.")],
    base: Annotated[
        str | None, typer.Option("--base", help="Start the branch here (default: HEAD).")
    ] = None,
    repo: RepoOption = Path(),
) -> None:
    """Add .claude/worktrees/NAME on branch worktree-NAME, ready to build; print its path."""
    with _errors():
        status = worktrees.run_script(repo, ["add", name, *([base] if base is not None else [])])
    raise typer.Exit(status)


@worktree_app.command("remove")
def worktree_remove(
    path: Annotated[Path, typer.Argument(help="The worktree to remove.")],
    repo: RepoOption = Path(),
) -> None:
    """Remove a worktree, its worktree-NAME branch and cq's records of dead builds there."""
    with _errors():
        status = worktrees.run_script(repo, ["remove", str(path.absolute())])
    raise typer.Exit(status)


def _drift_reason(change: Change, result: project.RenderResult) -> str:
    if change.artifact.ownership == "profile" and change.status is not Status.CONFLICT:
        return "workspace facts are stale (" + ", ".join(result.stale_facts) + ")"
    return {
        Status.CREATE: "missing",
        Status.UPDATE: "differs from buildkit.yaml"
        + (f" ({change.reason})" if change.reason else ""),
        Status.DELETE: "should no longer exist",
        Status.CONFLICT: f"{change.reason}",
    }.get(change.status, change.status.value)


_VERBS = {
    Status.CREATE: "create",
    Status.UPDATE: "update",
    Status.DELETE: "delete",
    Status.CONFLICT: "overwrite edited",
}


def _report(result: project.RenderResult, *, diff: bool, force: bool) -> None:
    """What a render did, or with --dry-run would do; a dry run that the real run would refuse
    (edits in the way, no --force) exits 1 with the real run's message."""
    refused = result.dry_run and bool(result.conflicts) and not force
    for change in result.changes:
        if change.status is Status.UNCHANGED:
            continue
        verb = _VERBS[change.status]
        if refused and change.status is Status.CONFLICT:
            verb = f"refuse to {verb}"
        verb = (
            f"would {verb}"
            if result.dry_run
            else {
                "create": "created",
                "update": "updated",
                "delete": "deleted",
                "overwrite edited": "overwrote edited",
            }[verb]
        )
        detail = change.artifact.ownership
        if change.artifact.ownership == "profile" and result.stale_facts:
            detail = "workspace facts: " + ", ".join(result.stale_facts)
        typer.echo(f"{verb}: {change.path} ({detail})")
        if diff:
            sys.stdout.write(change.diff())
    for step in result.steps:
        for line in step.lines:
            typer.echo(f"{'would run' if result.dry_run else 'done'}: {step.name}: {line}")
    if not result.pending and not any(step.lines for step in result.steps):
        typer.echo(f"up to date: {len(result.active)} artifact(s)")
    if refused:
        refusal = project.ConflictError(result.conflicts)
        typer.echo(one_line(refusal), err=True)
        raise typer.Exit(exit_code_of(refusal))


# click's UsageError, whichever click typer runs on (its own copy since typer 0.2x): the base of
# every error about the command line itself (unknown option or command, missing argument, bad
# value)
class _NoUsageError(Exception):
    """Stands in (and matches nothing) should typer's classes ever lack a UsageError."""


_USAGE_ERROR: type[Exception] = next(
    (c for c in typer.BadParameter.__mro__ if c.__name__ == "UsageError"), _NoUsageError
)


def main() -> None:
    """The `buildkit` command: typer's, with its usage errors on one line like every other
    error, instead of a usage block in a box."""
    command = typer.main.get_command(app)
    try:
        code = command.main(prog_name="buildkit", standalone_mode=False)
    except _USAGE_ERROR as exc:
        if type(exc).__name__ == "NoArgsIsHelpError":  # `buildkit` alone: the help
            exc.show()  # type: ignore[attr-defined]
            sys.exit(2)
        ctx = getattr(exc, "ctx", None)
        # without a context (an option's value missing at the end), the subcommand as typed
        typed = [a for a in sys.argv[1:3] if not a.startswith("-")]
        where = ctx.command_path if ctx is not None else " ".join(["buildkit", *typed[:1]])
        message = " ".join(exc.format_message().split())  # type: ignore[attr-defined]
        typer.echo(f"{where}: {message} (see '{where} --help')", err=True)
        sys.exit(2)
    except typer.Abort:
        typer.echo("Aborted.", err=True)
        sys.exit(1)
    sys.exit(code if isinstance(code, int) else 0)
