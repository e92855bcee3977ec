"""The workflows a repository already has, and the checks they run: `run:` scripts read as
shell commands, the well-known actions that wrap cargo, and the toolchains jobs install."""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
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


@dataclass(frozen=True)
class ExistingWorkflow:
    """A workflow of the repository's own and the checks its jobs run."""

    path: str
    runs: frozenset[str]  # subset of CHECKS
    runners: tuple[str, ...] = ()
    problem: str = ""  # why it could not be read, when it could not

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
        where = f" on {', '.join(self.runners)}" if self.runners and "test" in self.runs else ""
        return f"{self.path} runs {', '.join(shown)}{where}"


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
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            yield ExistingWorkflow(shown, frozenset(), problem=str(exc).splitlines()[0])
            continue
        jobs = data.get("jobs") if isinstance(data, dict) else None
        if not isinstance(jobs, dict):
            yield ExistingWorkflow(shown, frozenset(), problem="no jobs")
            continue
        runs: set[str] = set()
        runners: list[str] = []
        for job in jobs.values():
            if not isinstance(job, dict):
                continue
            found = job_checks(job, msrv)
            runs |= found
            if "test" in found:
                runners += [r for r in job_runners(job) if r not in runners]
        yield ExistingWorkflow(shown, frozenset(runs), tuple(runners))


def job_checks(job: Mapping[str, Any], msrv: str | None) -> set[str]:
    """Which of test/clippy/fmt/msrv one job runs: its ``run:`` scripts read as shell commands,
    the well-known actions that wrap them, and a toolchain equal to the MSRV."""
    found: set[str] = set()
    steps = job.get("steps")
    for step in steps if isinstance(steps, list) else []:
        if not isinstance(step, dict):
            continue
        if isinstance(step.get("run"), str):
            found |= {cargo_check_kind(cmd) for cmd in cargo_commands(step["run"])} - {""}
        uses = str(step.get("uses", ""))
        inputs = _mapping(step.get("with"))
        if any(a in uses for a in _CLIPPY_ACTIONS):
            found.add("clippy")
        if any(a in uses for a in _FMT_ACTIONS) and "toolchain" not in uses:
            found.add("fmt")
        if uses.startswith("actions-rs/cargo"):
            kind = cargo_check_kind(
                [str(inputs.get("command", "")), *str(inputs.get("args", "")).split()]
            )
            if kind:
                found.add(kind)
    if msrv and msrv_mentioned(job, msrv):
        found.add("msrv")
    return found


def cargo_commands(script: str) -> Iterator[list[str]]:
    """The argument lists after each ``cargo`` in a shell script (one per simple command)."""
    joined = script.replace("\\\n", " ")
    for part in _SHELL_SEPARATORS.split(joined):
        try:
            words = shlex.split(part, comments=True)
        except ValueError:
            words = part.split()
        while words and (_ASSIGNMENT.match(words[0]) or words[0] in _PREFIXES):
            words = words[1:]
        if words and PurePosixPath(words[0]).name in {"cargo", "cross"}:
            yield words[1:]


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
    """Whether the job installs the MSRV: a string value equal to it (a matrix entry, an
    action's ``toolchain`` input, ``cargo +1.70``) or an action ref ``@1.70``."""
    wanted = {msrv, msrv.rpartition(".")[0] if msrv.count(".") == 2 else msrv}
    for value in _strings(job):
        text = value.strip()
        if text in wanted or text.lstrip("+") in wanted:
            return True
        if "@" in text and text.rpartition("@")[2] in wanted:
            return True
        if any(f"+{v} " in f"{text} " for v in wanted):
            return True
    return False


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
