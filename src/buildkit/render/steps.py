"""Side-effect steps of a render plan: work that is not a file buildkit writes itself.

Some outputs are produced by another program (``cargo hakari`` writes the workspace-hack crate
and edits members' ``Cargo.toml``). A step wraps such a program so that every command treats it
like an artifact: ``--dry-run`` lists what it would do, ``init``/``render`` apply it after the
files are written, and ``check`` runs its verifications. ``prepare`` runs before any file is
written, so a missing tool stops the command with the repository untouched. Every path a step
names in ``touches`` is copied before it runs and put back when it fails (with every file the
render wrote), so a render stays all or nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol


@dataclass(frozen=True)
class StepContext:
    """How a step may talk to the user: ``yes`` answers every question; ``confirm`` is None when
    nobody can be asked (no TTY); ``progress`` prints one line of progress."""

    yes: bool = False
    confirm: Callable[[str], bool] | None = None
    progress: Callable[[str], None] = lambda line: None


@dataclass(frozen=True)
class StepFailure:
    """One verification that failed, as one phrase (``cargo hakari verify failed``,
    ``workspace-hack/Cargo.toml is missing``: ``check`` prints it as it is), and its output."""

    what: str
    detail: str = ""


class Step(Protocol):
    """A side effect of rendering, named after the profile section it comes from."""

    @property
    def name(self) -> str: ...

    def describe(self, root: Path) -> list[str]:
        """What ``apply`` would do, one line each, without doing it (for ``--dry-run``)."""

    def touches(self, root: Path) -> list[str]:
        """Every path (relative to root; a folder means everything in it) ``apply`` may
        create, change or delete."""

    def prepare(self, root: Path, ctx: StepContext) -> None:
        """Make sure the step can run (tools installed); runs before any file is written."""

    def apply(self, root: Path, ctx: StepContext) -> list[str]:
        """Do it; return one line per thing that changed (nothing on a re-run)."""

    def check(self, root: Path) -> list[StepFailure]:
        """Verify the repository is as ``apply`` leaves it; an empty list means it is."""
