"""The workflows a repository already has, and the checks they run: `run:` scripts read as
shell commands (cargo also through a variable such as ``${{ env.CARGO }}`` or ``$CARGO``, and
cross), the well-known actions that wrap cargo, the toolchains jobs install (matrix entries
included), and the reusable workflows and composite actions of the repository they call."""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

from buildkit.render.ownership import GENERATED

# The checks a workflow may run, and the ci key that turns buildkit's own on.
CHECKS = {"test": "ci.test", "clippy": "ci.clippy", "fmt": "ci.fmt", "msrv": "ci.msrv"}
_SHELL_SEPARATORS = re.compile(r"&&|\|\||[;|&\n()]")
_ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")
_PREFIXES = {"time", "nice", "env", "exec", "command", "sudo", "then", "do", "else", "!"}
_TEST_RUNNERS = {"test", "t", "nextest"}
# cargo subcommands that run the test suite through another tool.
_TEST_WRAPPERS = {"hack", "llvm-cov", "careful", "miri", "tarpaulin", "minimal-versions"}
_CLIPPY_ACTIONS = ("clippy-check", "clippy-action")
_FMT_ACTIONS = ("rustfmt",)
_CARGO_PROGRAMS = ("cargo", "cross")
# `${{ env.X }}`, `${{ inputs.X }}`, `${{ matrix.X }}` in a script (GitHub expands them first).
_EXPRESSION = re.compile(r"\$\{\{\s*(env|inputs|matrix)\.([A-Za-z0-9_-]+)\s*\}\}")
_VARIABLE = re.compile(r"^\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?$")
_MAX_DEPTH = 4  # reusable workflows and composite actions that call each other


@dataclass(frozen=True)
class ExistingWorkflow:
    """A workflow of the repository's own and the checks its jobs run."""

    path: str
    runs: frozenset[str]  # subset of CHECKS
    runners: tuple[str, ...] = ()
    problem: str = ""  # why it could not be read, when it could not
    features: tuple[str, ...] = ()  # the feature flags its test commands pass
    calls: tuple[str, ...] = ()  # reusable workflows and composite actions of the repository

    def describe(self) -> str:
        if self.problem:
            return f"{self.path} (not read: {self.problem})"
        names = {
            "test": "tests",
            "clippy": "clippy",
            "fmt": "rustfmt",
            "msrv": "the MSRV",
        }
        shown = [names[c] for c in CHECKS if c in self.runs] or ["no cargo check buildkit knows"]
        if self.features and "test" in self.runs:
            shown[shown.index("tests")] = f"tests ({', '.join(self.features)})"
        where = f" on {', '.join(self.runners)}" if self.runners and "test" in self.runs else ""
        through = f", through {', '.join(self.calls)}" if self.calls else ""
        return f"{self.path} runs {', '.join(shown)}{where}{through}"


def existing_workflows(root: Path, msrv: str | None) -> Iterator[ExistingWorkflow]:
    folder = root / ".github" / "workflows"
    if not folder.is_dir():
        return
    for path in sorted([*folder.glob("*.yml"), *folder.glob("*.yaml")]):
        shown = path.relative_to(root).as_posix()
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            yield ExistingWorkflow(shown, frozenset(), problem=str(exc))
            continue
        if GENERATED in "\n".join(text.split("\n", 3)[:3]):
            continue  # buildkit's own workflow
        try:
            data = _load(text)
        except yaml.YAMLError as exc:
            yield ExistingWorkflow(shown, frozenset(), problem=str(exc).splitlines()[0])
            continue
        if not isinstance(_mapping(data).get("jobs"), dict):
            yield ExistingWorkflow(shown, frozenset(), problem="no jobs")
            continue
        found = _Found()
        _read_workflow(root, _mapping(data), msrv, found, {}, 0)
        yield ExistingWorkflow(
            shown,
            frozenset(found.runs),
            tuple(found.runners),
            features=tuple(found.features),
            calls=tuple(found.calls),
        )


def _load(text: str) -> Any:
    """YAML with every scalar a string: `rust: 1.70` stays "1.70" (not the float 1.7)."""
    return yaml.load(text, Loader=yaml.BaseLoader)  # noqa: S506 (BaseLoader builds no objects)


@dataclass
class _Found:
    """What the jobs of one workflow run, collected through the workflows and actions they call."""

    runs: set[str] = field(default_factory=set)
    runners: list[str] = field(default_factory=list)
    features: list[str] = field(default_factory=list)
    calls: list[str] = field(default_factory=list)

    def add_features(self, words: list[str], matrix: Mapping[str, Any]) -> None:
        for flag in _features_of(words):
            for value in _expand_matrix(flag, matrix):
                if value not in self.features:
                    self.features.append(value)


def _read_workflow(
    root: Path,
    data: Mapping[str, Any],
    msrv: str | None,
    found: _Found,
    inputs: Mapping[str, str],
    depth: int,
) -> None:
    env = {**_string_map(data.get("env")), **{f"inputs.{k}": v for k, v in inputs.items()}}
    for job in _mapping(data.get("jobs")).values():
        if not isinstance(job, dict):
            continue
        before = set(found.runs)
        called = str(job.get("uses", ""))
        if called.startswith("./") and depth < _MAX_DEPTH:
            # A reusable workflow of this repository: its jobs run as this job's.
            local = called.split("@")[0]
            found.calls.append(local[2:])
            try:
                sub = _mapping(_load((root / local).read_text(encoding="utf-8")))
            except (OSError, UnicodeDecodeError, yaml.YAMLError):
                sub = {}
            _read_workflow(root, sub, msrv, found, _string_map(job.get("with")), depth + 1)
        job_env = {**env, **_string_map(job.get("env"))}
        matrix = _mapping(_mapping(job.get("strategy")).get("matrix"))
        _read_steps(root, job.get("steps"), job_env, matrix, msrv, found, depth)
        if msrv and msrv_mentioned(job, msrv):
            found.runs.add("msrv")
        if "test" in found.runs - before:
            for runner in job_runners(job):
                if runner not in found.runners:
                    found.runners.append(runner)


def _read_steps(
    root: Path,
    steps: Any,
    env: Mapping[str, str],
    matrix: Mapping[str, Any],
    msrv: str | None,
    found: _Found,
    depth: int,
) -> None:
    for step in steps if isinstance(steps, list) else []:
        if not isinstance(step, dict):
            continue
        step_env = {**env, **_string_map(step.get("env"))}
        if isinstance(step.get("run"), str):
            for words in cargo_commands(step["run"], step_env):
                kind = cargo_check_kind(words)
                if kind:
                    found.runs.add(kind)
                if kind == "test":
                    found.add_features(words, matrix)
        uses = str(step.get("uses", ""))
        inputs = _string_map(step.get("with"))
        if uses.startswith("./") and depth < _MAX_DEPTH:
            _read_composite(root, uses, inputs, step_env, matrix, msrv, found, depth + 1)
        if any(a in uses for a in _CLIPPY_ACTIONS):
            found.runs.add("clippy")
        if any(a in uses for a in _FMT_ACTIONS) and "toolchain" not in uses:
            found.runs.add("fmt")
        if uses.startswith("actions-rs/cargo"):
            kind = cargo_check_kind([inputs.get("command", ""), *inputs.get("args", "").split()])
            if kind:
                found.runs.add(kind)


def _read_composite(
    root: Path,
    uses: str,
    inputs: Mapping[str, str],
    env: Mapping[str, str],
    matrix: Mapping[str, Any],
    msrv: str | None,
    found: _Found,
    depth: int,
) -> None:
    """A composite action of this repository (``uses: ./.github/actions/x``): its steps run
    as the caller's, with its inputs (the caller's ``with:``, else their defaults)."""
    folder = uses.split("@")[0].rstrip("/")
    for name in ("action.yml", "action.yaml"):
        try:
            data = _mapping(_load((root / folder / name).read_text(encoding="utf-8")))
        except (OSError, UnicodeDecodeError, yaml.YAMLError):
            continue
        runs = _mapping(data.get("runs"))
        if runs.get("using") != "composite":
            return
        found.calls.append(f"{folder[2:]}/{name}")
        declared = _mapping(data.get("inputs"))
        defaults = {k: str(_mapping(v).get("default", "")) for k, v in declared.items()}
        given = {**defaults, **inputs}
        scoped = {**env, **{f"inputs.{k}": v for k, v in given.items()}}
        _read_steps(root, runs.get("steps"), scoped, matrix, msrv, found, depth)
        if msrv and msrv_mentioned({"inputs": given, "steps": runs.get("steps")}, msrv):
            found.runs.add("msrv")
        return


def _string_map(value: Any) -> dict[str, str]:
    return {str(k): str(v) for k, v in _mapping(value).items() if isinstance(v, (str, int))}


def cargo_commands(script: str, env: Mapping[str, str] | None = None) -> Iterator[list[str]]:
    """The argument lists after each ``cargo`` (or ``cross``, or a variable holding either) in
    a shell script, one per simple command; ``${{ env.X }}`` and ``${{ inputs.X }}`` are
    replaced by their values first, as GitHub does."""
    known = env or {}

    def expand(match: re.Match[str]) -> str:
        scope, name = match.group(1), match.group(2)
        if scope == "env":
            return known.get(name, f"${name}")
        if scope == "inputs":
            return known.get(f"inputs.{name}", "")
        return match.group(0)  # a matrix value: kept, and expanded per entry by the reader

    joined = _EXPRESSION.sub(expand, script.replace("\\\n", " "))
    for part in _SHELL_SEPARATORS.split(joined):
        try:
            words = shlex.split(part, comments=True)
        except ValueError:
            words = part.split()
        while words and (_ASSIGNMENT.match(words[0]) or words[0] in _PREFIXES):
            words = words[1:]
        if words and _is_cargo(words[0], known):
            yield words[1:]


def _is_cargo(word: str, env: Mapping[str, str]) -> bool:
    """``cargo``, ``cross``, a path to either, or a variable holding one: ``$CARGO`` whose
    value the workflow's ``env`` gives, or, when it is set at run time (through
    ``$GITHUB_ENV``, where cross stands in for cargo), a variable named after either."""
    variable = _VARIABLE.match(word)
    if variable:
        name = variable.group(1)
        value = env.get(name)
        if value is not None:
            return bool(value.split()) and PurePosixPath(value.split()[0]).name in _CARGO_PROGRAMS
        return any(program.upper() in name.upper() for program in _CARGO_PROGRAMS)
    return PurePosixPath(word).name in _CARGO_PROGRAMS


def _features_of(words: list[str]) -> list[str]:
    out = []
    for at, word in enumerate(words):
        if word in ("--all-features", "--no-default-features"):
            out.append(word)
        elif word in ("--features", "-F") and at + 1 < len(words):
            out.append(f"--features {words[at + 1]}")
        elif word.startswith("--features="):
            out.append(f"--features {word.partition('=')[2]}")
    return out


def _expand_matrix(text: str, matrix: Mapping[str, Any]) -> list[str]:
    """``--features ${{ matrix.features }}`` once per value of that matrix key."""
    match = _EXPRESSION.search(text)
    if not match or match.group(1) != "matrix":
        return [text]
    key = match.group(2)
    listed = matrix.get(key)
    values = [v for v in listed if isinstance(v, str)] if isinstance(listed, list) else []
    values += [
        entry[key]
        for entry in matrix.get("include", []) or []
        if isinstance(entry, dict) and isinstance(entry.get(key), str)
    ]
    out = []
    for value in values or ["(a matrix value)"]:
        expanded = text.replace(match.group(0), value).strip()
        if expanded == "--features" or not value.strip():
            expanded = "default features"
        if expanded not in out:
            out.append(expanded)
    return out


def cargo_check_kind(args: list[str]) -> str:
    """``test``, ``clippy``, ``fmt`` or ``""`` for cargo's arguments (``+toolchain`` and
    options before the subcommand skipped)."""
    words = [w for w in args if w and not w.startswith(("-", "+"))]
    if not words:
        return ""
    sub = words[0]
    if sub in _TEST_RUNNERS or (
        sub in _TEST_WRAPPERS and (sub == "llvm-cov" or _TEST_RUNNERS & set(words[1:]))
    ):
        return "test"
    if sub == "clippy" or (sub == "hack" and "clippy" in words[1:]):
        return "clippy"
    if sub == "fmt":
        return "fmt"
    if sub == "msrv":
        return "msrv"
    return ""


def msrv_mentioned(job: Mapping[str, Any], msrv: str) -> bool:
    """Whether the job installs the MSRV: a string value naming that version (a matrix entry
    such as ``rust: 1.85.0`` for rust-version 1.85, an action's ``toolchain`` input,
    ``cargo +1.85``) or an action ref ``@1.85``."""
    for value in _strings(job):
        text = value.strip()
        candidates = [text, text.lstrip("+"), text.rpartition("@")[2]]
        candidates += re.findall(r"\+(\S+)", text)
        if any(_same_version(c, msrv) for c in candidates):
            return True
    return False


def _same_version(text: str, msrv: str) -> bool:
    """``1.85.0`` and ``1.85`` name the same MSRV (rust-version has no patch, usually); a
    patch both spell out must match."""
    found = re.fullmatch(r"(\d+)\.(\d+)(?:\.(\d+))?", text)
    wanted = re.fullmatch(r"(\d+)\.(\d+)(?:\.(\d+))?", msrv)
    if not found or not wanted:
        return False
    if found.group(1, 2) != wanted.group(1, 2):
        return False
    return found.group(3) is None or wanted.group(3) is None or found.group(3) == wanted.group(3)


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, dict) else {}


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        yield str(value)
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def job_runners(job: Mapping[str, Any]) -> list[str]:
    runs_on = job.get("runs-on")
    matrix = _mapping(_mapping(job.get("strategy")).get("matrix"))
    if isinstance(runs_on, str) and "${{" in runs_on:
        out: list[str] = []
        for key, values in matrix.items():
            if key in runs_on and isinstance(values, list):
                out += [str(v) for v in values if isinstance(v, (str, int))]
        for entry in matrix.get("include", []) or []:
            if isinstance(entry, dict):
                out += [str(v) for k, v in entry.items() if k in runs_on and isinstance(v, str)]
        return out or [runs_on]
    if isinstance(runs_on, str):
        return [runs_on]
    return [str(r) for r in runs_on] if isinstance(runs_on, list) else []
