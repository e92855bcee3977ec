"""The home directory as a render destination: what ``buildkit provision`` writes for a user.

The same render functions and ownership rules as a repository's files: cq and the env file are
owned files (byte for byte the repository's), the user's cargo settings get buildkit's keys
merged in, the shell's rc file gets a marked block. ``buildkit provision`` compares them with
the disk through the same code as ``buildkit render`` and hands what changes to the ansible
role, which writes it; packages and cargo-hakari stay ansible's job.
"""

from __future__ import annotations

import os
import platform
import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from buildkit.profile import Profile
from buildkit.profile.model import MachineSection
from buildkit.render import templating
from buildkit.render.cargo_config import cargo_settings
from buildkit.render.cq import render_cq
from buildkit.render.ownership import Artifact, ManagedBlock, ManagedKey, MergedToml, OwnedFile

# Cargo keys that describe a repository, not a machine: a build-dir template or incremental
# policy belongs to a project's own .cargo/config.toml.
REPOSITORY_ONLY = ("build_dir", "incremental")
ENV_FILE = ".config/buildkit/env.sh"
PROVISION = "`buildkit provision`"


@dataclass(frozen=True)
class Machine:
    """The facts about this machine that decide where things go."""

    system: str  # platform.system(): "Linux", "Darwin", …
    home: Path
    cargo_home: Path

    @classmethod
    def this(cls, system: str | None = None, environ: Mapping[str, str] | None = None) -> Machine:
        env = os.environ if environ is None else environ
        home = Path(env.get("HOME") or Path.home())
        cargo_home = Path(env["CARGO_HOME"]) if env.get("CARGO_HOME") else home / ".cargo"
        return cls(system=system or platform.system(), home=home, cargo_home=cargo_home)

    @property
    def linux(self) -> bool:
        return self.system == "Linux"

    def expand(self, path: str) -> Path:
        """``~/x`` relative to this machine's home; other paths as given."""
        if path == "~":
            return self.home
        if path.startswith("~/"):
            return self.home / path[2:]
        return Path(path)

    def shell_word(self, path: Path) -> str:
        """A path as one POSIX shell word; under the home it is written ``"$HOME"/…``."""
        if path.is_relative_to(self.home) and path != self.home:
            return '"$HOME"/' + shlex.quote(str(path.relative_to(self.home)))
        return shlex.quote(str(path))


@dataclass(frozen=True)
class HomeLayout:
    """Where each of buildkit's files goes on this machine, from the profile's machine section."""

    bin_dir: Path
    env_file: Path
    rc_file: Path
    cargo_config: Path
    linker: str

    @classmethod
    def of(cls, settings: MachineSection, machine: Machine) -> HomeLayout:
        shell = settings.shell
        if shell == "auto":
            shell = "zsh" if machine.system == "Darwin" else "bash"
        rc_file = machine.home / (".zshrc" if shell == "zsh" else ".bashrc")
        if settings.rc_file:
            rc_file = machine.expand(settings.rc_file)
        return cls(
            bin_dir=machine.expand(settings.bin_dir),
            env_file=machine.home / ENV_FILE,
            rc_file=rc_file,
            cargo_config=machine.cargo_home / "config.toml",
            # A fast linker is installed from Linux distributions' packages only.
            linker=settings.fast_linker if machine.linux else "none",
        )


def machine_cargo_keys(cargo: Mapping[str, Any], linker: str) -> tuple[ManagedKey, ...]:
    """The keys a machine gets: the profile's cargo settings minus the repository-only ones,
    with the linker from ``machine.fast_linker``."""
    section = {**cargo, **dict.fromkeys(REPOSITORY_ONLY), "linker": linker}
    return tuple(
        ManagedKey(key.keys, key.value, "machine.fast_linker")
        if key.source == "cargo.linker"
        else key
        for key in cargo_settings(section)
    )


def rc_block(layout: HomeLayout, machine: Machine, *, install_cq: bool) -> str:
    lines: list[str] = []
    if install_cq:
        bin_dir = machine.shell_word(layout.bin_dir)
        lines.append(
            f'case ":$PATH:" in *:{bin_dir}:*) ;; *) PATH={bin_dir}:$PATH; export PATH ;; esac'
        )
    env_file = machine.shell_word(layout.env_file)
    lines.append(f"if [ -f {env_file} ]; then . {env_file}; fi")
    return "\n".join(lines) + "\n"


def artifacts(profile: Profile, machine: Machine) -> list[Artifact]:
    """Every file ``buildkit provision`` manages in this user's home (absolute paths)."""
    settings = profile.model.machine
    layout = HomeLayout.of(settings, machine)
    context = profile.template_context()
    out: list[Artifact] = []
    if settings.install_cq:
        cq = render_cq(profile)
        out.append(OwnedFile(path=str(layout.bin_dir / "cq"), body=cq, executable=True))
    if settings.cargo_config:
        keys = machine_cargo_keys(profile.section("cargo"), layout.linker)
        out.append(MergedToml(path=str(layout.cargo_config), managed=keys, command=PROVISION))
    if settings.shell_env:
        env = templating.render("templates", "env.sh.j2", context)
        block = rc_block(layout, machine, install_cq=settings.install_cq)
        out += [
            OwnedFile(path=str(layout.env_file), body=env),
            ManagedBlock(path=str(layout.rc_file), body=block, at_top=True, command=PROVISION),
        ]
    return out
