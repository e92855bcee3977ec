"""One error hierarchy; ``exit_code_of`` and ``one_line`` turn each into an exit code and one
line, in one place (the CLI calls them and nothing else decides either)."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

EXIT_OK = 0
EXIT_DRIFT = 1  # drift, a refusal (your edits in the way), a write that was rolled back
EXIT_BAD_INPUT = 2  # your files or arguments are wrong, or a tool buildkit needs is missing
EXIT_FAILED = 3  # a tool buildkit ran failed, or buildkit itself is broken (not your input)


class Kind(StrEnum):
    """What kind of failure an error is: the exit code follows from it (``EXIT_CODES``)."""

    BAD_INPUT = "bad input"
    ENVIRONMENT = "missing tool"
    REFUSED = "refused"
    WRITE_FAILED = "write failed"
    TOOL_FAILED = "tool failed"
    INTERNAL = "internal error"


EXIT_CODES = {
    Kind.BAD_INPUT: EXIT_BAD_INPUT,
    Kind.ENVIRONMENT: EXIT_BAD_INPUT,
    Kind.REFUSED: EXIT_DRIFT,
    Kind.WRITE_FAILED: EXIT_DRIFT,
    Kind.TOOL_FAILED: EXIT_FAILED,
    Kind.INTERNAL: EXIT_FAILED,
}


class BuildkitError(Exception):
    """Base of every error buildkit reports to a user: one line, what, where, how to fix.

    ``path`` and ``key`` say where, when the error is about a file or a profile key; they are
    for programs (tests, ``--json`` callers): the message already names them for people."""

    kind = Kind.BAD_INPUT

    def __init__(self, message: str, *, path: Path | str | None = None, key: str | None = None):
        super().__init__(message)
        self.message = message
        self.path = None if path is None else str(path)
        self.key = key

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.kind]


class BadInput(BuildkitError):
    """The user's files or arguments are wrong (a profile, a missing Cargo.toml, …)."""


class EnvironmentProblem(BuildkitError):
    """Something the user must install or set up is missing (cargo not on PATH, …)."""

    kind = Kind.ENVIRONMENT


class ToolFailed(BuildkitError):
    """A tool buildkit ran (``cargo hakari``, gc's worker under cq) failed on input that
    buildkit accepted: not the user's input, so not exit 2."""

    kind = Kind.TOOL_FAILED


class InternalError(BuildkitError):
    """buildkit's own files are broken (a packaging bug: ``ci/pins.yaml``, ``templates/``)."""

    kind = Kind.INTERNAL


class CheckFailed(BuildkitError):
    """Drift, a refused overwrite, or a failed verification: exit 1."""

    kind = Kind.REFUSED


class WriteFailed(BuildkitError):
    """Writing the rendered files failed (read-only, immutable, disk full); every file was put
    back as it was: exit 1."""

    kind = Kind.WRITE_FAILED


def exit_code_of(error: BuildkitError) -> int:
    return error.exit_code


def one_line(error: BuildkitError) -> str:
    """The line printed for an error: always one line, even when a message quotes a tool."""
    text = " ".join(error.message.splitlines()) or error.kind.value
    if error.kind is Kind.INTERNAL:
        text += " (a bug in buildkit's installation: please report it)"
    return f"buildkit: error: {text}"
