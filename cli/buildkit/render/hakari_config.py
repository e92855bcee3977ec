"""cargo-hakari: ``.config/hakari.toml`` from the profile, and a step that drives the real tool.

buildkit owns the config file; ``cargo hakari`` owns the workspace-hack crate and the
``workspace-hack`` dependency lines in members' ``Cargo.toml``. The step creates the crate when
it is absent (``cargo hakari init --skip-config``, so buildkit's config stays pristine), then
``generate`` and ``manage-deps``, each only when its dry run says something would change.
"""

from __future__ import annotations

import dataclasses
import subprocess
from dataclasses import dataclass
from pathlib import Path

from buildkit.errors import BadInput, EnvironmentProblem
from buildkit.profile import Profile
from buildkit.render import templating
from buildkit.render.ownership import Artifact, ManagedBlock, OwnedFile, RetiredFile
from buildkit.render.steps import Step, StepContext, StepFailure
from buildkit.workspace import Workspace

HAKARI_CONFIG = ".config/hakari.toml"
GITATTRIBUTES = ".gitattributes"
INSTALL = ("cargo", "install", "--locked", "cargo-hakari")
INSTALL_SHOWN = " ".join(INSTALL)
HAKARI_MARK = "### BEGIN HAKARI SECTION"


def drop_workspace_hack(workspace: Workspace, root: Path) -> Workspace:
    """The workspace without its workspace-hack crate (recognised by hakari's section marker):
    it is cargo-hakari's output, not a member anyone works on, so it is no workspace fact."""

    def is_hack(path: str) -> bool:
        try:
            return HAKARI_MARK in (root / path / "Cargo.toml").read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            return False

    hacks = {m.name for m in workspace.members if is_hack(m.path)}
    if not hacks:
        return workspace
    return dataclasses.replace(
        workspace,
        members=tuple(m for m in workspace.members if m.name not in hacks),
        default_members=tuple(n for n in workspace.default_members if n not in hacks),
    )


def artifacts(profile: Profile) -> list[Artifact]:
    if not profile.hakari_enabled:
        return [RetiredFile(path=HAKARI_CONFIG)]
    body = templating.render("templates", "hakari.toml.j2", profile.template_context())
    hack = profile.section("hakari")["path"].strip("/")
    # A merge conflict marker in the generated Cargo.toml breaks cargo, and hakari needs LF.
    attributes = f"/{hack}/Cargo.toml merge=binary -crlf\n"
    return [
        OwnedFile(path=HAKARI_CONFIG, body=body),
        ManagedBlock(path=GITATTRIBUTES, body=attributes),
    ]


def steps(profile: Profile) -> list[Step]:
    if not profile.hakari_enabled:
        return []
    hakari = profile.section("hakari")
    config = next(a for a in artifacts(profile) if a.path == HAKARI_CONFIG).render(None)
    return [
        HakariStep(package=hakari["package"], path=hakari["path"].strip("/"), config=config or "")
    ]


@dataclass(frozen=True)
class HakariStep:
    """Create the workspace-hack crate when absent, regenerate it, and add it to every member."""

    package: str
    path: str
    config: str = ""  # the .config/hakari.toml this render writes
    name: str = "hakari"

    def describe(self, root: Path) -> list[str]:
        """Only what would change: ``cargo hakari``'s own dry runs answer when the tool, the
        crate and this render's config are all in place; otherwise each step is listed."""
        installed = hakari_installed(root)
        lines = []
        if not installed:
            lines.append(f"{INSTALL_SHOWN} (cargo-hakari is not installed)")
        if not self._crate_exists(root):
            lines.append(
                f"cargo hakari init {self.path} --package-name {self.package} --skip-config --yes"
            )
        config = root / HAKARI_CONFIG
        current = config.read_text(encoding="utf-8") if config.is_file() else None
        if lines or current != self.config:
            return [
                *lines,
                "cargo hakari generate (when `generate --diff` shows a change)",
                "cargo hakari manage-deps --yes (when `manage-deps --dry-run` has operations)",
            ]
        if _hakari(root, "generate", "--diff", ok=(0, 1)).returncode == 1:
            lines.append(f"cargo hakari generate (would change {self.path}/Cargo.toml)")
        if _hakari(root, "manage-deps", "--dry-run", ok=(0, 1)).returncode == 1:
            lines.append("cargo hakari manage-deps --yes (members' workspace-hack dependency)")
        return lines

    def prepare(self, root: Path, ctx: StepContext) -> None:
        if hakari_installed(root):
            return
        question = f"cargo-hakari is not installed; install it with `{INSTALL_SHOWN}`?"
        if not ctx.yes:
            if ctx.confirm is None:
                raise EnvironmentProblem(
                    "hakari: `cargo hakari` is not installed and there is no terminal to ask; "
                    f"pass --yes to install it with `{INSTALL_SHOWN}`, or run that yourself"
                )
            if not ctx.confirm(question):
                raise EnvironmentProblem(
                    f"hakari: `cargo hakari` is not installed; run `{INSTALL_SHOWN}`, or set "
                    "hakari.enabled: false in buildkit.yaml"
                )
        ctx.progress(
            f"hakari: cargo-hakari is not installed; running `{INSTALL_SHOWN}` "
            "(cargo's progress follows)"
        )
        # cargo's own progress goes straight to the user's terminal.
        done = subprocess.run(INSTALL, cwd=root, stdout=subprocess.DEVNULL, check=False)
        if done.returncode != 0 or not hakari_installed(root):
            raise EnvironmentProblem(
                f"hakari: `{INSTALL_SHOWN}` failed (exit {done.returncode}; its output is above); "
                "nothing was written: fix the install (network, toolchain) and run again"
            )

    def apply(self, root: Path, ctx: StepContext) -> list[str]:
        done = []
        if not self._crate_exists(root):
            ctx.progress(f"hakari: creating the {self.package} crate in {self.path}/")
            _hakari(
                root, "init", self.path, "--package-name", self.package, "--skip-config", "--yes"
            )
            done.append(f"created the {self.package} crate in {self.path}/")
        if _hakari(root, "generate", "--diff", ok=(0, 1)).returncode == 1:
            _hakari(root, "generate")
            done.append(f"regenerated {self.path}/Cargo.toml")
        if _hakari(root, "manage-deps", "--dry-run", ok=(0, 1)).returncode == 1:
            _hakari(root, "manage-deps", "--yes")
            done.append(f"added or updated the {self.package} dependency of members")
        return done

    def check(self, root: Path) -> list[StepFailure]:
        if not self._crate_exists(root):
            return [
                StepFailure(
                    f"{self.path}/Cargo.toml is missing",
                    "run `buildkit render` to create the workspace-hack crate",
                )
            ]
        if not hakari_installed(root):
            raise EnvironmentProblem(
                f"hakari: `cargo hakari` is not installed, so the workspace-hack cannot be "
                f"verified; run `{INSTALL_SHOWN}`"
            )
        failures = []
        for args in (("generate", "--diff"), ("manage-deps", "--dry-run"), ("verify",)):
            run = _hakari(root, *args, ok=None)
            if run.returncode != 0:
                failures.append(
                    StepFailure("cargo hakari " + " ".join(args), (run.stdout + run.stderr).strip())
                )
        return failures

    def _crate_exists(self, root: Path) -> bool:
        return (root / self.path / "Cargo.toml").is_file()


def hakari_installed(root: Path) -> bool:
    try:
        run = subprocess.run(
            ["cargo", "hakari", "--version"], cwd=root, capture_output=True, text=True, check=False
        )
    except FileNotFoundError:
        return False
    return run.returncode == 0 and "cargo-hakari" in run.stdout


def _hakari(
    root: Path, *args: str, ok: tuple[int, ...] | None = (0,)
) -> subprocess.CompletedProcess[str]:
    """Run ``cargo hakari ARGS`` in root; a return code outside ``ok`` is an error."""
    run = subprocess.run(
        ["cargo", "hakari", *args, "--color", "never"],
        cwd=root,
        capture_output=True,
        text=True,
        check=False,
    )
    if ok is not None and run.returncode not in ok:
        lines = (run.stderr or run.stdout).strip().splitlines() or ["no output"]
        raise BadInput(
            f"hakari: `cargo hakari {' '.join(args)}` failed in {root}: {lines[-1]}; "
            "run it there by hand to see the whole error"
        )
    return run
