"""What ``buildkit init`` reads from a repository before it chooses anything, like a maintainer
would: the default branch, the declared MSRV, the toolchain file, the workflows that already
run tests or lints, and files of the user's own at the paths buildkit would write.

The survey only reads (and, when asked, runs ``cargo fmt --check`` and ``cargo clippy``); the
choices it derives become the first ``buildkit.yaml``, and its findings init's summary.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import jsonschema
import tomlkit
import tomlkit.exceptions

from buildkit.existing_ci import CHECKS, ExistingWorkflow, existing_workflows
from buildkit.install_source import CheckJobChoice, choose
from buildkit.probes import (
    ALL_TARGETS,
    BROKEN,
    CLEAN,
    FAILING,
    UNKNOWN,
    Probe,
    probe_clippy,
    probe_env,
    probe_fmt,
    probe_tests,
)
from buildkit.profile import profile_schema
from buildkit.render.ci_workflow import toolchain_channel
from buildkit.render.hakari import HAKARI_CONFIG, import_hakari_toml
from buildkit.render.ownership import GENERATED
from buildkit.workspace import Member, Workspace, git_output

DEFAULT_BRANCH = "main"
# Owned single files whose path the profile can move: (profile key, default path).
MOVABLE_PATHS = (
    ("cq.path", "scripts/cq"),
    ("ci.path", ".github/workflows/rust.yml"),
    ("env.file", ".config/buildkit.env"),
)
# A devcontainer of the user's own: buildkit's Feature goes into it instead.
DEVCONTAINER_FILES = (".devcontainer/devcontainer.json", ".devcontainer/Dockerfile")


@dataclass(frozen=True)
class Survey:
    """What init found in the repository; ``choices`` and ``summary`` are derived from it."""

    default_branch: str
    branch_source: str
    rust_version: str | None
    toolchain: str | None  # channel of rust-toolchain(.toml), when it names one
    workflows: tuple[ExistingWorkflow, ...]
    taken_paths: Mapping[str, str]  # profile key -> the user's file at its default path
    fmt: Probe
    clippy: Probe
    tests: Probe = field(default_factory=lambda: Probe(UNKNOWN, "the tests were not run"))
    hakari: str | None = None  # an existing .config/hakari.toml not written by buildkit
    hakari_import: Mapping[str, Any] = field(default_factory=dict)  # its settings, as profile keys
    own_devcontainer: str | None = None  # a devcontainer file of the user's own
    cq_path_option: str | None = None  # --cq-path
    msrv_blocker: str = ""  # why an MSRV job would fail on the repository as it is
    cargo_adopt: Mapping[str, Any] = field(default_factory=dict)  # the user's own cargo keys
    notes: tuple[str, ...] = field(default=())
    check_job: CheckJobChoice | None = None  # where the `buildkit check` job installs from

    def already_run(self, check: str) -> list[str]:
        return [w.path for w in self.workflows if check in w.runs]

    def choices(self) -> dict[str, dict[str, Any]]:
        """Profile sections (only the keys that differ from the defaults) for the first
        ``buildkit.yaml``."""
        ci: dict[str, Any] = {"branches": [self.default_branch]}
        for check in ("test", "clippy", "fmt"):
            if self.already_run(check):
                ci[check] = False
        if self.fmt.clean is not True and "fmt" not in ci:
            ci["fmt"] = False
        if "clippy" not in ci:
            if self.clippy.outcome == BROKEN:
                ci["clippy"] = False
            elif self.clippy.scope and self.clippy.scope != ALL_TARGETS:
                ci["clippy_targets"] = self.clippy.scope
        if "test" not in ci:
            if self.tests.outcome in (BROKEN, FAILING):
                ci["test"] = False
            elif self.tests.scope:
                ci["test_targets"] = self.tests.scope
        if self.rust_version and not self.already_run("msrv") and not self.msrv_blocker:
            ci["msrv"] = self.rust_version
        if self.check_job and self.check_job.source:
            ci["buildkit_source"] = self.check_job.source
        if ci.get("clippy") is not False:
            ci["clippy_deny_warnings"] = self.clippy.outcome == CLEAN
        out: dict[str, dict[str, Any]] = {"ci": ci}
        if self.hakari_import:
            out["hakari"] = dict(self.hakari_import)
        if self.own_devcontainer:
            out["devcontainer"] = {"enabled": False, "feature": True}
        for key, path in self.taken_paths.items():
            section, name = key.split(".")
            out.setdefault(section, {})[name] = path
        if self.cq_path_option:
            out.setdefault("cq", {})["path"] = self.cq_path_option
        if self.cargo_adopt:
            out["cargo"] = dict(self.cargo_adopt)
        return out

    def summary(
        self, chosen: Mapping[str, Mapping[str, Any]], jobs: tuple[str, ...] = ()
    ) -> list[str]:
        """init's short report: what it found, then what it chose and the key to change it;
        ``jobs`` are the jobs of buildkit's workflow."""
        ci = chosen.get("ci", {})
        found = [f"default branch {self.default_branch} ({self.branch_source})"]
        if self.rust_version:
            found.append(f"rust-version {self.rust_version}")
        if self.toolchain:
            found.append(f"rust-toolchain file (channel {self.toolchain})")
        lines = ["found: " + "; ".join(found)]
        for key, value in self.cargo_adopt.items():
            lines.append(
                f"chose: cargo.{key}: {json.dumps(value)}: your .cargo/config.toml sets it; "
                "buildkit.yaml keeps your value"
            )
        lines += [f"found: {w.describe()}" for w in self.workflows]
        lines.append(f"chose: ci.branches {list(ci.get('branches', []))} (pushes there run CI)")
        labels = {"test": "the tests", "clippy": "clippy", "fmt": "rustfmt"}
        for check, label in labels.items():
            if ci.get(check) is False and self.already_run(check):
                lines.append(
                    f"chose: {CHECKS[check]}: false: {', '.join(self.already_run(check))} "
                    f"already runs {label}; set {CHECKS[check]}: true to add buildkit's"
                )
        if ci.get("fmt") is False and not self.already_run("fmt"):
            lines.append(
                f"chose: ci.fmt: false: {self.fmt.detail}; set ci.fmt: true once "
                "`cargo fmt --all --check` passes"
            )
        if ci.get("clippy") is False and not self.already_run("clippy"):
            lines.append(
                f"chose: ci.clippy: false: {self.clippy.detail}; set ci.clippy: true (and "
                "ci.clippy_targets) once it compiles on the CI toolchain"
            )
        elif "clippy_targets" in ci:
            lines.append(
                f"chose: ci.clippy_targets: {ci['clippy_targets']!r}: the widest set of targets "
                f"clippy compiles today; {self.clippy.detail}"
            )
        if ci.get("test") is False and not self.already_run("test"):
            lines.append(
                f"chose: ci.test: false: {self.tests.detail}; set ci.test: true once the tests pass"
            )
        elif "test_targets" in ci:
            lines.append(
                f"chose: ci.test_targets: {ci['test_targets']!r}: the widest set of targets the "
                f"tests compile in today; {self.tests.detail}"
            )
        if ci.get("msrv"):
            lines.append(
                f"chose: ci.msrv: {ci['msrv']}: a job runs `cargo check` with the declared "
                "rust-version"
            )
        elif self.rust_version and self.msrv_blocker:
            lines.append(
                f"chose: no MSRV job: {self.msrv_blocker}; set ci.msrv: {self.rust_version!r} "
                "once it can build"
            )
        elif self.rust_version:
            lines.append(
                f"chose: no MSRV job: {', '.join(self.already_run('msrv'))} already checks "
                f"rust-version {self.rust_version}; set ci.msrv: {self.rust_version!r} to add one"
            )
        if "clippy_deny_warnings" in ci and ci.get("clippy") is not False:
            if ci.get("clippy_deny_warnings"):
                lines.append(f"chose: ci.clippy_deny_warnings: true: {self.clippy.detail}")
            else:
                lines.append(
                    f"chose: ci.clippy_deny_warnings: false: {self.clippy.detail}; CI shows "
                    "clippy's warnings without failing (set it to true once clippy is clean)"
                )
        if self.check_job:
            lines.append(self.check_job.line)
        if ci.get("enabled") is False:
            lines.append(
                "chose: ci.enabled: false: every job buildkit's workflow would have is run by "
                "your workflows or cannot pass today (above), so buildkit writes no workflow"
            )
        elif jobs and any(not w.problem for w in self.workflows):
            lines.append(self._adds_only(chosen, jobs))
        for key, path in self.taken_paths.items():
            default = dict(MOVABLE_PATHS)[key]
            use = ""
            if key == "cq.path":
                name = PurePosixPath(path).name
                use = f"; build with `{path} build` (`{name} build` with direnv)"
            lines.append(
                f"chose: {key}: {path}: {default} is a file of your own and stays as it is{use}"
            )
        if self.cq_path_option:
            lines.append(f"chose: cq.path: {self.cq_path_option} (--cq-path)")
        if self.hakari:
            keys = ", ".join(k for k in self.hakari_import if k != "enabled")
            lines.append(
                f"chose: hakari: the settings of your {self.hakari} ({keys}) are now in "
                "buildkit.yaml's hakari section; buildkit writes that file with the same settings"
            )
        if self.own_devcontainer:
            lines.append(
                f"chose: devcontainer.enabled: false, devcontainer.feature: true: "
                f"{self.own_devcontainer} is your own and stays as it is; add "
                '"./buildkit-feature" to its features for cq and the env there'
            )
        lines += list(self.notes)
        return lines

    def _adds_only(self, chosen: Mapping[str, Mapping[str, Any]], jobs: tuple[str, ...]) -> str:
        """What buildkit's workflow adds next to the repository's own, and why each."""
        ci = chosen.get("ci", {})
        path = ci.get("path", dict(MOVABLE_PATHS)["ci.path"])
        lints = [
            n
            for n, on in (("rustfmt", ci.get("fmt", True)), ("clippy", ci.get("clippy", True)))
            if on
        ]
        what = {
            "lint": f"lint ({', '.join(lints)})",
            "test": "tests",
            "msrv": f"cargo check with Rust {ci.get('msrv')}",
            "hakari": "the workspace-hack drift check (cargo hakari)",
            "buildkit": "the drift check of buildkit's files (buildkit check)",
        }
        cached = [j for j in jobs if j in ("lint", "test", "msrv")]
        cache = f" and rust-cache ({', '.join(cached)})" if cached else ""
        return (
            f"chose: {path} adds only what your workflows do not run: "
            f"{'; '.join(what[j] for j in jobs)}; its jobs build with CARGO_INCREMENTAL=0{cache}; "
            "your workflows stay as they are"
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "default_branch": self.default_branch,
            "default_branch_source": self.branch_source,
            "rust_version": self.rust_version,
            "toolchain": self.toolchain,
            "workflows": [
                {
                    "path": w.path,
                    "runs": sorted(w.runs),
                    "runners": list(w.runners),
                    "features": list(w.features),
                    "calls": list(w.calls),
                    "problem": w.problem,
                }
                for w in self.workflows
            ],
            "user_files_at_owned_paths": {
                dict(MOVABLE_PATHS)[k]: {"key": k, "chosen": v} for k, v in self.taken_paths.items()
            },
            "fmt_clean": self.fmt.clean,
            "clippy_clean": self.clippy.clean,
            "probes": {
                name: {"outcome": p.outcome, "detail": p.detail, "scope": p.scope}
                for name, p in (("fmt", self.fmt), ("clippy", self.clippy), ("tests", self.tests))
            },
            "hakari": self.hakari,
        }


def survey(
    root: Path,
    workspace: Workspace,
    *,
    run_clippy: bool,
    cq_path: str | None = None,
    progress: Any = None,
    all_members: tuple[Member, ...] = (),
) -> Survey:
    """Read the repository at ``root``; ``run_clippy`` lets the probes that compile (clippy and
    the tests, slow on a big workspace) run, to learn what CI can check today."""
    branch, source = default_branch(root)
    msrv = workspace.rust_version
    workflows = tuple(existing_workflows(root, msrv))
    taken = taken_paths(root)
    if cq_path is not None:
        taken.pop("cq.path", None)
    # The probes compile the workspace: each runs only when buildkit's CI would run its check.
    channel = toolchain_channel(root, "") or None
    env = probe_env(root, channel)
    clippy = Probe(UNKNOWN, "clippy was not run (--dry-run or --no-probes)")
    tests = Probe(UNKNOWN, "the tests were not run (--dry-run or --no-probes)")
    if run_clippy and not any("clippy" in w.runs for w in workflows):
        if progress:
            progress(
                "init: running `cargo clippy --workspace --all-targets` to learn whether it "
                "compiles and warns (--no-probes skips it)"
            )
        clippy = probe_clippy(root, env)
    if run_clippy and not any("test" in w.runs for w in workflows):
        if progress:
            progress(
                "init: running `cargo test --workspace` to learn whether the tests compile and "
                "pass (--no-probes skips it)"
            )
        tests = probe_tests(root, env)
    hakari, hakari_import = None, {}
    if is_users_file(root / HAKARI_CONFIG):
        hakari = HAKARI_CONFIG
        hakari_import = import_hakari_toml(root / HAKARI_CONFIG, HAKARI_CONFIG)
        package = hakari_import.get("package")
        hack = next((m for m in all_members or workspace.members if m.name == package), None)
        if hack is not None:
            hakari_import["path"] = hack.path
    own_devcontainer = next((p for p in DEVCONTAINER_FILES if is_users_file(root / p)), None)
    return Survey(
        check_job=choose(),
        cargo_adopt=users_cargo_settings(root),
        msrv_blocker=lockfile_blocker(root, msrv) if msrv else "",
        cq_path_option=cq_path,
        own_devcontainer=own_devcontainer,
        hakari=hakari,
        hakari_import=hakari_import,
        default_branch=branch,
        branch_source=source,
        rust_version=msrv,
        toolchain=channel,
        workflows=workflows,
        taken_paths=taken,
        fmt=probe_fmt(root, env),
        clippy=clippy,
        tests=tests,
    )


# -- the default branch -------------------------------------------------------------------


def default_branch(root: Path) -> tuple[str, str]:
    """The branch pushes go to: the remote's HEAD, else ``init.defaultBranch`` when the
    repository has that branch (or no branch yet), else the current branch, else main."""
    remote = git_output(root, "symbolic-ref", "--quiet", "refs/remotes/origin/HEAD")
    if remote and remote.strip().startswith("refs/remotes/origin/"):
        return remote.strip().removeprefix("refs/remotes/origin/"), "origin/HEAD"
    current = (git_output(root, "symbolic-ref", "--quiet", "--short", "HEAD") or "").strip()
    configured = (git_output(root, "config", "init.defaultBranch") or "").strip()
    if configured:
        branches = (git_output(root, "branch", "--list", "--format=%(refname:short)") or "").split()
        if configured in branches or not branches:
            return configured, "init.defaultBranch"
    if current:
        return current, "the current branch"
    return DEFAULT_BRANCH, "no git repository; the default"


# -- files of the user's own at buildkit's paths -----------------------------------------


def taken_paths(root: Path) -> dict[str, str]:
    """For each movable owned path holding a file buildkit did not write: the next free path."""
    out = {}
    for key, default in MOVABLE_PATHS:
        if is_users_file(root / default):
            out[key] = next_free_path(root, default)
    return out


def is_users_file(path: Path) -> bool:
    """A file there that carries no buildkit header (a generated one, edited or not, is ours)."""
    if not path.exists() and not path.is_symlink():
        return False
    try:
        head = path.read_text(encoding="utf-8", errors="replace").split("\n", 3)[:3]
    except OSError:
        return True
    return GENERATED not in "\n".join(head)


def next_free_path(root: Path, default: str) -> str:
    """``scripts/cq`` → ``scripts/buildkit-cq`` (then ``scripts/buildkit-cq-2``, …)."""
    posix = PurePosixPath(default)
    name = posix.name if posix.name.startswith("buildkit") else f"buildkit-{posix.name}"
    stem, suffix = (
        (name.rsplit(".", 1)[0], "." + name.rsplit(".", 1)[1]) if "." in name else (name, "")
    )
    candidate = posix.with_name(name)
    number = 2
    while (root / candidate).exists() or (root / candidate).is_symlink() or candidate == posix:
        candidate = posix.with_name(f"{stem}-{number}{suffix}")
        number += 1
    return candidate.as_posix()


# -- the MSRV ------------------------------------------------------------------------------

# The first cargo that reads each Cargo.lock format (`version = N` at its top).
_LOCKFILE_READERS = {3: (1, 53), 4: (1, 78)}


def lockfile_blocker(root: Path, msrv: str) -> str:
    """Why cargo at the MSRV cannot read this repository's Cargo.lock (empty when it can)."""
    try:
        text = (root / "Cargo.lock").read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return ""
    found = re.search(r"^version\s*=\s*(\d+)\s*$", text, re.M)
    needed = _LOCKFILE_READERS.get(int(found.group(1))) if found else None
    wanted = tuple(int(p) for p in msrv.split(".")[:2] if p.isdigit())
    if needed and wanted < needed:
        return (
            f"Cargo.lock is format {found.group(1) if found else '?'}, which cargo reads from "
            f"{needed[0]}.{needed[1]} on, newer than rust-version {msrv}"
        )
    return ""


# -- cargo settings the user already has ----------------------------------------------------

# Profile key of the cargo section -> the TOML key it sets in .cargo/config.toml.
CARGO_KEYS = {
    "dependency_debug": ("profile", "dev", "package", "*", "debug"),
    "jobs": ("build", "jobs"),
    "incremental": ("build", "incremental"),
    "build_dir": ("build", "build-dir"),
    "split_debuginfo": ("profile", "dev", "split-debuginfo"),
}


def users_cargo_settings(root: Path) -> dict[str, Any]:
    """The keys buildkit would manage that the user's .cargo/config.toml already sets (not
    marked as buildkit's), as profile values: the first buildkit.yaml keeps them, so init
    neither overrides nor refuses them. Values the schema does not allow are left out (render
    then names the conflict)."""
    path = root / ".cargo" / "config.toml"
    try:
        text = path.read_text(encoding="utf-8")
        doc = tomlkit.parse(text)
    except (OSError, UnicodeDecodeError, tomlkit.exceptions.ParseError):
        return {}
    schema = profile_schema()["properties"]["cargo"]["properties"]
    found: dict[str, Any] = {}
    for key, toml_key in CARGO_KEYS.items():
        node: Any = doc
        for part in toml_key:
            node = node.get(part) if hasattr(node, "get") else None
            if node is None:
                break
        comment = node.trivia.comment if isinstance(node, tomlkit.items.Item) else ""
        if node is None or "buildkit:" in comment:
            continue
        value = node.unwrap() if hasattr(node, "unwrap") else node
        validator = jsonschema.Draft202012Validator(schema.get(key, {"not": {}}))
        if not list(validator.iter_errors(value)):
            found[key] = value
    return found
