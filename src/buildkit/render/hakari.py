"""cargo-hakari: ``.config/hakari.toml`` from the profile, and a step that drives the real tool.

buildkit owns the config file; ``cargo hakari`` owns the workspace-hack crate and the
``workspace-hack`` dependency lines in members' ``Cargo.toml``. The step creates the crate when
it is absent (``cargo hakari init --skip-config``, so buildkit's config stays pristine), then
``generate`` and ``manage-deps``, each only when its dry run says something would change.
"""

from __future__ import annotations

import dataclasses
import json
import re
import shutil
import subprocess
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from buildkit.errors import BadInput, EnvironmentProblem, ToolFailed
from buildkit.pins import pinned_tool
from buildkit.profile import Profile
from buildkit.render import templating
from buildkit.render.ownership import (
    GENERATED,
    Artifact,
    ManagedBlock,
    RetiredFile,
    is_pristine,
    with_header,
)
from buildkit.render.steps import Step, StepContext, StepFailure
from buildkit.workspace import Workspace, detect_workspace

HAKARI_CONFIG = ".config/hakari.toml"
GITATTRIBUTES = ".gitattributes"
# Pinned like CI's: `generate --diff` output depends on the version, so an unpinned install at
# init could disagree with the workflow's check.
HAKARI_VERSION = pinned_tool("cargo-hakari")
INSTALL = ("cargo", "install", "--locked", f"cargo-hakari@{HAKARI_VERSION}")
INSTALL_SHOWN = " ".join(INSTALL)
# A prebuilt binary in seconds, when the user has cargo-binstall (minutes of compiling saved).
BINSTALL = ("cargo", "binstall", "--no-confirm", "--locked", f"cargo-hakari@{HAKARI_VERSION}")
BINSTALL_SHOWN = " ".join(BINSTALL)
COMPILE_NOTE = (
    f"hakari: compiling cargo-hakari {HAKARI_VERSION} from source with `{INSTALL_SHOWN}`; this "
    "usually takes several minutes (with cargo-binstall on PATH, init installs a prebuilt "
    "binary instead; cargo's progress follows)"
)


def install_shown() -> str:
    """The command init would install cargo-hakari with, here and now."""
    return BINSTALL_SHOWN if shutil.which("cargo-binstall") else INSTALL_SHOWN


HAKARI_MARK = "### BEGIN HAKARI SECTION"
# cargo-hakari's own defaults for keys a hakari.toml may leave out (hakari's summaries.rs).
HAKARI_DEFAULTS: dict[str, Any] = {
    "resolver": "1",
    "dep-format-version": "1",
    "platforms": [],
    "exact-versions": False,
    "absolute-paths": False,
    "builder-summary": False,
    "output-single-feature": False,
    "unify-target-host": "auto",
    "workspace-hack-line-style": "full",
    "traversal-excludes": {},
    "final-excludes": {},
    "registries": {},
}
_KNOWN_KEYS = {"hakari-package", *HAKARI_DEFAULTS}
# hakari.toml key -> profile key, for the keys that map one to one.
_PROFILE_KEYS = {
    "hakari-package": "package",
    "resolver": "resolver",
    "dep-format-version": "dep_format_version",
    "platforms": "platforms",
    "exact-versions": "exact_versions",
    "absolute-paths": "absolute_paths",
    "builder-summary": "builder_summary",
    "output-single-feature": "output_single_feature",
    "unify-target-host": "unify_target_host",
    "workspace-hack-line-style": "workspace_hack_line_style",
}


def hakari_settings(text: str) -> dict[str, Any]:
    """The settings cargo-hakari reads from a hakari.toml: every default filled in, so two
    files that differ only in comments, order or spelled-out defaults compare equal."""
    data = tomllib.loads(text)
    settings = {**HAKARI_DEFAULTS, **data}
    for table in ("traversal-excludes", "final-excludes"):
        value = settings[table] or {}
        settings[table] = {
            "workspace-members": sorted(set(value.get("workspace-members", []))),
            "third-party": list(value.get("third-party", [])),
        }
    settings["registries"] = {
        name: entry.get("index") if isinstance(entry, dict) else entry
        for name, entry in (settings["registries"] or {}).items()
    }
    for key in ("resolver", "dep-format-version"):
        settings[key] = str(settings[key])
    return settings


def import_hakari_toml(path: Path, shown: str) -> dict[str, Any]:
    """The profile's hakari section for an existing hakari.toml, keeping every setting; a key
    buildkit cannot carry stops init with one line rather than being dropped."""
    try:
        text = path.read_text(encoding="utf-8")
        settings = hakari_settings(text)
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise BadInput(
            f"{shown}: cannot read it as TOML ({exc}); fix it, then run init again"
        ) from None
    unknown = sorted(set(tomllib.loads(text)) - _KNOWN_KEYS)
    if unknown:
        raise BadInput(
            f"{shown}: {unknown[0]}: not a cargo-hakari setting buildkit can carry into "
            "buildkit.yaml; remove it, or write a buildkit.yaml with `hakari: {enabled: false}` "
            "to keep managing hakari yourself"
        )
    section: dict[str, Any] = {"enabled": True}
    for key, name in _PROFILE_KEYS.items():
        if key in settings and (key == "hakari-package" or settings[key] != HAKARI_DEFAULTS[key]):
            section[name] = settings[key]
    # Defaults that differ between cargo-hakari and the profile are written out.
    section["resolver"] = settings["resolver"]
    section["dep_format_version"] = settings["dep-format-version"]
    for table, members, third in (
        ("traversal-excludes", "exclude_members", "exclude_third_party"),
        ("final-excludes", "final_exclude_members", "final_exclude_third_party"),
    ):
        if settings[table]["workspace-members"]:
            section[members] = settings[table]["workspace-members"]
        if settings[table]["third-party"]:
            entries = settings[table]["third-party"]
            section[third] = [{str(k): str(v) for k, v in e.items()} for e in entries]
    if settings["registries"]:
        section["registries"] = settings["registries"]
    return section


@dataclass(frozen=True)
class HakariConfigFile:
    """``.config/hakari.toml``, owned; a hand-written one whose settings are exactly the
    profile's (what ``buildkit init`` imported) is taken over without ``--force``: nothing
    cargo-hakari reads changes."""

    path: str
    body: str
    executable: bool = False
    ownership: str = field(default="owned", init=False)

    def render(self, current: str | None) -> str:
        return with_header(self.body, "#")

    def user_edited(self, current: str) -> bool:
        if is_pristine(current, "#"):
            return False
        if GENERATED in "\n".join(current.split("\n", 3)[:3]):
            return True  # buildkit's file, edited by hand
        try:
            return json.dumps(hakari_settings(current), sort_keys=True) != json.dumps(
                hakari_settings(self.body), sort_keys=True
            )
        except tomllib.TOMLDecodeError:
            return True


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
    hack = profile.model.hakari.path.strip("/")
    # A merge conflict marker in the generated Cargo.toml breaks cargo, and hakari needs LF.
    attributes = f"/{hack}/Cargo.toml merge=binary -crlf\n"
    return [
        HakariConfigFile(path=HAKARI_CONFIG, body=body),
        ManagedBlock(path=GITATTRIBUTES, body=attributes),
    ]


def steps(profile: Profile) -> list[Step]:
    if not profile.hakari_enabled:
        return []
    hakari = profile.model.hakari
    config = next(a for a in artifacts(profile) if a.path == HAKARI_CONFIG).render(None)
    return [HakariStep(package=hakari.package, path=hakari.path.strip("/"), config=config or "")]


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
            lines.append(f"{install_shown()} (cargo-hakari is not installed)")
        if not self._crate_exists(root):
            lines.append(
                f"cargo hakari init {self.path} --package-name {self.package} --skip-config --yes"
            )
            lines.append(f"add [lib] test = false, doctest = false to {self.path}/Cargo.toml")
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

    def touches(self, root: Path) -> list[str]:
        """``init`` adds the crate to the root manifest's members; ``generate`` rewrites the
        crate; ``manage-deps`` edits every member's manifest; cargo may rewrite the lock file."""
        members = [m.path for m in detect_workspace(root).members]
        manifests = [Path(m, "Cargo.toml").as_posix() for m in members]
        fixed = ["Cargo.toml", "Cargo.lock", HAKARI_CONFIG, self.path]
        return list(dict.fromkeys([*fixed, *manifests]))

    def prepare(self, root: Path, ctx: StepContext) -> None:
        if hakari_installed(root):
            return
        shown = install_shown()
        question = f"cargo-hakari is not installed; install it with `{shown}`?"
        if not ctx.yes:
            if ctx.confirm is None:
                raise EnvironmentProblem(
                    "hakari: `cargo hakari` is not installed and there is no terminal to ask; "
                    f"pass --yes to install it with `{shown}`, or run that yourself"
                )
            if not ctx.confirm(question):
                raise EnvironmentProblem(
                    f"hakari: `cargo hakari` is not installed; run `{shown}`, or set "
                    "hakari.enabled: false in buildkit.yaml"
                )
        if shown == BINSTALL_SHOWN:
            ctx.progress(
                f"hakari: installing cargo-hakari {HAKARI_VERSION}, a prebuilt binary, with "
                f"`{BINSTALL_SHOWN}`"
            )
            done = subprocess.run(BINSTALL, cwd=root, stdout=subprocess.DEVNULL, check=False)
            if done.returncode == 0 and hakari_installed(root):
                return
            ctx.progress(f"hakari: `{BINSTALL_SHOWN}` failed (exit {done.returncode})")
        ctx.progress(COMPILE_NOTE)
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
            add_lib_settings(root / self.path / "Cargo.toml")
            done.append(f"created the {self.package} crate in {self.path}/ (no tests to run)")
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
        # exit 1 of a dry run means "changes pending", not a failure: say which
        pending = {
            ("generate", "--diff"): f"{self.path}/Cargo.toml is out of date (the diff below)",
            ("manage-deps", "--dry-run"): (
                f"members' {self.package} dependencies are out of date (the changes below)"
            ),
        }
        for args in (("generate", "--diff"), ("manage-deps", "--dry-run"), ("verify",)):
            run = _hakari(root, *args, ok=None)
            if run.returncode != 0:
                shown = f"cargo hakari {' '.join(args)}"
                # cargo-hakari exits 1 on an error too: then it printed an error report
                errored = any(
                    line.lstrip().lower().startswith("error") for line in run.stderr.splitlines()
                )
                what = (
                    pending[args]
                    if run.returncode == 1 and args in pending and not errored
                    else f"{shown} failed (exit {run.returncode})"
                )
                failures.append(StepFailure(what, (run.stdout + run.stderr).strip()))
        return failures

    def _crate_exists(self, root: Path) -> bool:
        return (root / self.path / "Cargo.toml").is_file()


# The workspace-hack has no code: left to its defaults, every `cargo test` in the workspace
# would build and run its empty test binary and run rustdoc on it for doctests (about 30 ms a
# time on logsift, paid by each turn of an edit-test loop). Set once, when buildkit creates the
# crate; hakari rewrites only its own section, so they stay, and they are the user's after.
LIB_SETTINGS = """
# buildkit: the crate has no code to test, so `cargo test` skips it
[lib]
test = false
doctest = false
bench = false
"""


def add_lib_settings(manifest: Path) -> None:
    """Append LIB_SETTINGS to a workspace-hack manifest ``cargo hakari init`` just wrote,
    unless it already has a ``[lib]`` table."""
    text = manifest.read_text(encoding="utf-8")
    if re.search(r"^\s*\[lib\]", text, re.M):
        return
    manifest.write_text(text.rstrip("\n") + "\n" + LIB_SETTINGS, encoding="utf-8")


def hakari_installed(root: Path) -> bool:
    try:
        run = subprocess.run(
            ["cargo", "hakari", "--version"], cwd=root, capture_output=True, text=True, check=False
        )
    except FileNotFoundError:
        return False
    return run.returncode == 0 and "cargo-hakari" in run.stdout


def _cause(output: str) -> str:
    """The line that says what went wrong: cargo-hakari's first `error:` line (its last line is
    often a hint such as "Run with RUST_BACKTRACE=full"), else its last line."""
    lines = [line.strip() for line in output.strip().splitlines() if line.strip()]
    for at, line in enumerate(lines):
        if line.lower().startswith("error"):
            if line.endswith(":") and at + 1 < len(lines):  # color-eyre: "Error:" then "0: …"
                return lines[at + 1].split(": ", 1)[-1]
            return line
    return lines[-1] if lines else "no output"


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
        raise ToolFailed(
            f"hakari: `cargo hakari {' '.join(args)}` failed in {root}: "
            f"{_cause(run.stderr or run.stdout)}; run it there by hand to see the whole error"
        )
    return run
