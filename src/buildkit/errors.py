"""One error hierarchy; the CLI turns each into an exit code in one place."""

from __future__ import annotations

EXIT_OK = 0
EXIT_DRIFT = 1
EXIT_BAD_INPUT = 2


class BuildkitError(Exception):
    """Base of every error buildkit reports to a user: one line, what, where, how to fix."""

    exit_code = EXIT_BAD_INPUT


class BadInput(BuildkitError):
    """The user's files or arguments are wrong (a profile, a missing Cargo.toml, …)."""


class EnvironmentProblem(BuildkitError):
    """Something on the machine is missing or broken (cargo not on PATH, …)."""


class CheckFailed(BuildkitError):
    """Drift, a refused overwrite, or a failed verification: exit 1."""

    exit_code = EXIT_DRIFT


class WriteFailed(BuildkitError):
    """Writing the rendered files failed (read-only, immutable, disk full); every file was put
    back as it was: exit 1."""

    exit_code = EXIT_DRIFT
