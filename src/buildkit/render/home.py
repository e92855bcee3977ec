"""The home directory as a render destination: what ``buildkit provision`` writes for a user.

The same render functions and ownership rules as a repository's files: cq and the env file are
owned files (byte for byte the repository's), the user's cargo settings get buildkit's keys
merged in, the shell's rc file gets a marked block. ``buildkit provision`` compares them with
the disk through the same code as ``buildkit render`` and hands what changes to the ansible
role, which writes it; packages and cargo-hakari stay ansible's job.
"""

from __future__ import annotations

import dataclasses
import os
import platform
import pwd
import shlex
import stat
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from buildkit.errors import BadInput
from buildkit.profile import Profile
from buildkit.profile.model import CargoLinker, CargoSection, MachineSection
from buildkit.render import agents, cache_remote, templating
from buildkit.render.admission import RUNNER_KEY, RUSTDOC_KEY, RUSTDOC_SOURCE, script
from buildkit.render.admission import SOURCE as RUNNER_SOURCE
from buildkit.render.apply import Change, Status, compare
from buildkit.render.cache import render_wrapper
from buildkit.render.cargo_config import cargo_settings
from buildkit.render.cq import render_cq
from buildkit.render.merged_json import MergedJson
from buildkit.render.ownership import Artifact, ManagedBlock, ManagedKey, MergedToml, OwnedFile

ENV_FILE = ".config/buildkit/env.sh"
SHIM_DIR = ".local/share/buildkit/bin"
# the rustc wrapper, runner and rustdoc of the CPU budget (docs/cq.md, "Admission"): not on PATH
LIBEXEC_DIR = ".local/share/buildkit/libexec"
HOOKS_DIR = ".config/buildkit/hooks"
CLAUDE_SETTINGS = ".claude/settings.json"
PROVISION = "`buildkit provision`"


@dataclass(frozen=True)
class Machine:
    """The facts about one machine (this one, or a host ansible gathered them from) that
    decide where things go."""

    system: str  # platform.system(): "Linux", "Darwin", …
    home: Path
    cargo_home: Path
    login_shell: str = ""  # the user's login shell from the password database, e.g. /bin/zsh
    data_home: Path | None = None  # $XDG_DATA_HOME when set (pinned tools go under it)

    @classmethod
    def this(
        cls,
        system: str | None = None,
        environ: Mapping[str, str] | None = None,
        login_shell: str | None = None,
    ) -> Machine:
        env = os.environ if environ is None else environ
        home = Path(env.get("HOME") or Path.home())
        cargo_home = Path(env["CARGO_HOME"]) if env.get("CARGO_HOME") else home / ".cargo"
        if login_shell is None:
            login_shell = pwd.getpwuid(os.getuid()).pw_shell  # what ansible's user_shell reads
        return cls(
            system=system or platform.system(),
            home=home,
            cargo_home=cargo_home,
            login_shell=login_shell,
            data_home=Path(env["XDG_DATA_HOME"]) if env.get("XDG_DATA_HOME") else None,
        )

    @property
    def data_dir(self) -> Path:
        """``$XDG_DATA_HOME``, else ``~/.local/share``: where the rustc wrapper looks for the
        pinned sccache (``tools/sccache-VERSION``)."""
        return self.data_home or self.home / ".local" / "share"

    @property
    def default_shell(self) -> str:
        """``machine.shell: auto``: the login shell when it is bash or zsh, else the platform's
        (zsh on macOS since Catalina, bash elsewhere)."""
        name = Path(self.login_shell).name
        if name in ("bash", "zsh"):
            return name
        return "zsh" if self.system == "Darwin" else "bash"

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
    linker: CargoLinker
    shim_dir: Path
    hooks_dir: Path
    claude_settings: Path

    @classmethod
    def of(cls, settings: MachineSection, machine: Machine) -> HomeLayout:
        shell = machine.default_shell if settings.shell == "auto" else settings.shell
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
            shim_dir=machine.home / SHIM_DIR,
            hooks_dir=machine.home / HOOKS_DIR,
            claude_settings=machine.home / CLAUDE_SETTINGS,
        )


def machine_cargo_keys(cargo: CargoSection, linker: CargoLinker) -> tuple[ManagedKey, ...]:
    """The keys a machine gets: the profile's cargo settings minus the repository-only ones
    (a build-dir template or incremental policy belongs to a project's own config), with the
    linker from ``machine.fast_linker``."""
    section = dataclasses.replace(cargo, build_dir=None, incremental=None, linker=linker)
    return tuple(
        dataclasses.replace(key, source="machine.fast_linker")
        if key.source == "cargo.linker"
        else key
        for key in cargo_settings(section)
    )


def _path_first(word: str) -> str:
    return f'case ":$PATH:" in *:{word}:*) ;; *) PATH={word}:$PATH; export PATH ;; esac'


def rc_block(layout: HomeLayout, machine: Machine, *, install_cq: bool, shim: bool) -> str:
    lines: list[str] = []
    if install_cq:
        lines.append(_path_first(machine.shell_word(layout.bin_dir)))
    if shim:
        lines.append("# buildkit's cargo shim first: a plain `cargo test` waits for cq's queue.")
        lines.append(
            "# cargo's bin dir goes on PATH behind it now, so rustup's later `. ~/.cargo/env`"
        )
        lines.append("# (which adds the dir only when it is missing) cannot put cargo ahead.")
        cargo_bin = machine.shell_word(layout.cargo_config.parent / "bin")
        lines.append(
            f'case ":$PATH:" in *:{cargo_bin}:*) ;; *) PATH=$PATH:{cargo_bin}; export PATH ;; esac'
        )
        lines.append(_path_first(machine.shell_word(layout.shim_dir)))
    env_file = machine.shell_word(layout.env_file)
    lines.append(f"if [ -f {env_file} ]; then . {env_file}; fi")
    return "\n".join(lines) + "\n"


def artifacts(profile: Profile, machine: Machine) -> list[Artifact]:
    """Every file ``buildkit provision`` manages in this user's home (absolute paths)."""
    settings = profile.model.machine
    layout = HomeLayout.of(settings, machine)
    context = profile.template_context()
    shim_on = profile.model.agents.shim_cargo and settings.install_cq
    out: list[Artifact] = []
    if settings.install_cq:
        cq = render_cq(profile)
        out.append(OwnedFile(path=str(layout.bin_dir / "cq"), body=cq, executable=True))
    if settings.cargo_config:
        keys = machine_cargo_keys(profile.model.cargo, layout.linker)
        if profile.model.admission.enabled:
            # every cargo of this user, also one started outside a rendered repository
            # (`--manifest-path` from elsewhere), lands in the budget; a repository's own keys
            # point at its own copy and win there
            libexec = machine.home / LIBEXEC_DIR
            wrapper = libexec / "rustc-wrapper"
            out.append(OwnedFile(path=str(wrapper), body=render_wrapper(profile), executable=True))
            keys += (ManagedKey(("build", "rustc-wrapper"), str(wrapper), "admission.enabled"),)
            if profile.model.admission.runner:
                runner = libexec / "runner"
                body = script(RUNNER_SOURCE)
                out.append(OwnedFile(path=str(runner), body=body, executable=True))
                keys += (
                    ManagedKey(
                        RUNNER_KEY,
                        str(runner),
                        "admission.runner",
                        rivals=("target", None, "runner"),
                    ),
                )
            if profile.model.admission.rustdoc:
                # doctests and `cargo doc`: the script hands rustdoc to the wrapper beside it
                rustdoc = libexec / "rustdoc"
                body = script(RUSTDOC_SOURCE)
                out.append(OwnedFile(path=str(rustdoc), body=body, executable=True))
                keys += (ManagedKey(RUSTDOC_KEY, str(rustdoc), "admission.rustdoc"),)
        out.append(MergedToml(path=str(layout.cargo_config), managed=keys, command=PROVISION))
    if settings.shell_env:
        team = cache_remote.env_file_context(profile, "laptops")
        env = templating.render("templates", "env.sh.j2", {**context, "team_cache": team})
        block = rc_block(layout, machine, install_cq=settings.install_cq, shim=shim_on)
        out += [
            OwnedFile(path=str(layout.env_file), body=env),
            ManagedBlock(path=str(layout.rc_file), body=block, at_top=True, command=PROVISION),
        ]
    out += _agent_artifacts(profile, layout, shim_on=shim_on)
    return out


def _agent_artifacts(profile: Profile, layout: HomeLayout, *, shim_on: bool) -> list[Artifact]:
    """The cargo shim and Claude Code's user-level hooks, for every repository of this user:
    the same templates and hook groups as a repository's, with absolute paths."""
    claude_on = profile.model.agents.claude_settings and profile.model.machine.install_cq
    context = agents.agent_context(
        profile,
        shim_on=shim_on,
        cq_command="cq",
        cq_path=str(layout.bin_dir / "cq"),
        shim_dir=str(layout.shim_dir),
        hooks_dir=str(layout.hooks_dir),
    )
    out: list[Artifact] = []
    if shim_on:
        shim = templating.render("templates", "cargo-shim.sh.j2", context)
        out.append(OwnedFile(path=str(layout.shim_dir / "cargo"), body=shim, executable=True))
    session = layout.hooks_dir / "claude-session-start.sh"
    pre_tool_use = layout.hooks_dir / "claude-pre-tool-use.pl"
    if claude_on and shim_on:
        body = templating.render("templates", "claude-session-start.sh.j2", context)
        out.append(OwnedFile(path=str(session), body=body, executable=True))
    if claude_on:
        body = templating.render("templates", "claude-pre-tool-use.pl.j2", context)
        out.append(OwnedFile(path=str(pre_tool_use), body=body))
        groups = agents.claude_hook_groups(
            shlex.quote(str(session)) if shim_on else None, shlex.quote(str(pre_tool_use))
        )
        out.append(MergedJson(path=str(layout.claude_settings), groups=groups))
    return out


@dataclass(frozen=True)
class HostFile:
    """One of buildkit's files as it is now on a machine: its text (None: missing) and mode."""

    content: str | None
    mode: int | None = None

    @property
    def executable(self) -> bool:
        return self.mode is not None and bool(self.mode & stat.S_IXUSR)


def read_local(paths: Iterable[str]) -> dict[str, HostFile]:
    """The files as they are on this machine (``buildkit provision``'s view of the home)."""
    found: dict[str, HostFile] = {}
    for path in paths:
        try:
            target = Path(path)
            text = target.read_text(encoding="utf-8")  # universal newlines, as render reads
            found[path] = HostFile(text, stat.S_IMODE(target.stat().st_mode))
        except FileNotFoundError:
            found[path] = HostFile(None)
        except (OSError, UnicodeDecodeError) as exc:
            raise BadInput(f"{path}: cannot read it ({exc}); fix or remove the file") from None
    return found


def changes(profile: Profile, machine: Machine, current: Mapping[str, HostFile]) -> list[Change]:
    """What provisioning would do to each of buildkit's files in this user's home, given the
    files as they are there (``current``, keyed by path; a path it lacks counts as missing)."""
    out = []
    for artifact in artifacts(profile, machine):
        now = current.get(artifact.path, HostFile(None))
        lost = artifact.executable and now.content is not None and not now.executable
        out.append(compare(artifact, now.content, executable_lost=lost))
    return out


def file_entries(
    changed: Iterable[Change], current: Mapping[str, HostFile], *, force: bool
) -> list[dict[str, str | None]]:
    """The files to write (or remove: content None), each with the mode it should end with:
    its current mode, plus the executable bits for an executable artifact."""
    entries: list[dict[str, str | None]] = []
    for change in changed:
        if change.status is Status.UNCHANGED or (change.status is Status.CONFLICT and not force):
            continue
        executable = 0o111 if change.artifact.executable else 0
        now = current.get(change.path, HostFile(None))
        mode = (now.mode | executable) if now.mode is not None else (0o644 | executable)
        entries.append({"path": change.path, "content": change.after, "mode": f"{mode:04o}"})
    return entries
