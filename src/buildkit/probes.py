"""What init learns by running rustfmt, clippy and the tests on the repository as it is.

Each probe classifies what it saw, because the choice depends on the kind of failure: clippy
warnings can be shown without failing CI, but a clippy that does not compile (a bench target
with ``#![feature(test)]`` on stable, error E0554) fails whatever CI does with warnings. For
clippy and the tests the probe then looks for a smaller set of targets that compiles (without
benches, without examples) and reports it, so CI can run the checks that can pass today.

Probes compile in a private scratch dir: they run before cargo-hakari unifies features, so
their units in target/ would be leftovers that no later build uses.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

# The outcomes of a probe, from best to worst.
CLEAN = "clean"  # passes
WARNINGS = "warnings"  # clippy compiles and warns
FAILING = "failing"  # compiles, but tests fail or files are not rustfmt-formatted
BROKEN = "broken"  # does not compile (or rustfmt cannot parse), in every scope tried
UNKNOWN = "unknown"  # not run, or the tool could not run

ALL_TARGETS = "--all-targets"
# Scopes tried in order when the wider one does not compile: benches and examples are the
# targets that most often need nightly or extra setup.
CLIPPY_SCOPES = (
    ALL_TARGETS,
    "--lib --bins --tests --examples",
    "--lib --bins --tests --benches",
    "--lib --bins --tests",
    "--lib --bins",
)
TEST_SCOPES = ("", "--lib --bins --tests", "--lib --bins")
# cargo target kind -> the flag that selects it.
_KIND_FLAGS = {"bench": "--benches", "example": "--examples", "test": "--tests", "bin": "--bins"}


@dataclass(frozen=True)
class Probe:
    """One check run on the repository: what happened, in words, and the scope that worked."""

    outcome: str
    detail: str
    scope: str = ""  # target flags that compile ("" is cargo's default set of targets)

    @property
    def clean(self) -> bool | None:
        return None if self.outcome == UNKNOWN else self.outcome == CLEAN


@dataclass(frozen=True)
class Compiled:
    """One cargo run read from its JSON messages."""

    returncode: int
    errors: tuple[str, ...]  # "error[E0554]: … (bench `speed` of alpha)", first line each
    failed_kinds: frozenset[str]  # target kinds an error was reported in
    warnings: int
    output: str  # the human-readable part (test results, cargo's own errors)


def probe_fmt(root: Path, env: Mapping[str, str]) -> Probe:
    run = _run(root, ["fmt", "--all", "--check"], env)
    if run is None or run.returncode not in (0, 1):
        return Probe(UNKNOWN, "`cargo fmt` could not run here (is rustfmt installed?)")
    if run.returncode == 0:
        return Probe(CLEAN, "`cargo fmt --all --check` passes")
    files = {
        line.split(" at ")[0] for line in run.stdout.splitlines() if line.startswith("Diff in")
    }
    if not files:
        # rustfmt exits 1 without a diff when it cannot parse a file (nightly-only syntax).
        cause = _first_error(run.stderr) or "no diff, and an error"
        return Probe(BROKEN, f"rustfmt cannot format the repository today ({cause})")
    return Probe(FAILING, f"`cargo fmt --all --check` finds {len(files)} unformatted place(s)")


def probe_clippy(root: Path, env: Mapping[str, str]) -> Probe:
    """The widest scope clippy compiles in, and whether it warns there."""
    with tempfile.TemporaryDirectory(prefix="buildkit-probe-") as scratch:
        env = {**env, **_scratch_env(scratch)}
        tried: list[tuple[str, Compiled]] = []
        for scope in _scopes(CLIPPY_SCOPES, tried):
            run = _compile(root, ["clippy", "--workspace", *scope.split()], env)
            if run is None:
                return Probe(UNKNOWN, "`cargo clippy` could not run here (is clippy installed?)")
            tried.append((scope, run))
            if run.returncode == 0:
                return _clippy_result(scope, run, tried[0])
    return Probe(BROKEN, _broken("cargo clippy --workspace", tried))


def _clippy_result(scope: str, run: Compiled, first: tuple[str, Compiled]) -> Probe:
    command = f"`cargo clippy --workspace {scope}`"
    narrowed = ""
    if scope != ALL_TARGETS:
        narrowed = f" (`{ALL_TARGETS}` does not compile: {first[1].errors[0]})"
    if run.warnings:
        detail = f"{command} reports {run.warnings} warning(s) today{narrowed}"
        return Probe(WARNINGS, detail, scope)
    return Probe(CLEAN, f"{command} reports no warnings today{narrowed}", scope)


def probe_tests(root: Path, env: Mapping[str, str]) -> Probe:
    """The widest scope the tests compile in, then whether they pass there."""
    with tempfile.TemporaryDirectory(prefix="buildkit-probe-") as scratch:
        env = {**env, **_scratch_env(scratch)}
        tried: list[tuple[str, Compiled]] = []
        for scope in _scopes(TEST_SCOPES, tried):
            built = _compile(root, ["test", "--workspace", "--no-run", *scope.split()], env)
            if built is None:
                return Probe(UNKNOWN, "`cargo test` could not run here")
            tried.append((scope, built))
            if built.returncode == 0:
                break
        else:
            return Probe(BROKEN, _broken("cargo test --workspace", tried))
        command = " ".join(["cargo test --workspace", scope]).strip()
        ran = _run(root, ["test", "--workspace", *scope.split()], env)
    if ran is None:
        return Probe(UNKNOWN, "`cargo test` could not run here")
    narrowed = ""
    if scope:
        narrowed = f" (the default targets do not compile: {tried[0][1].errors[0]})"
    if ran.returncode == 0:
        return Probe(CLEAN, f"`{command}` passes today{narrowed}", scope)
    failed = re.findall(r"^---- (\S+) stdout ----$", ran.stdout, re.M)
    shown = ", ".join(failed[:3]) + (f" and {len(failed) - 3} more" if len(failed) > 3 else "")
    what = f"test(s) fail: {shown}" if failed else f"exit {ran.returncode}"
    return Probe(FAILING, f"`{command}` fails today ({what}){narrowed}", scope)


def _scopes(candidates: tuple[str, ...], tried: list[tuple[str, Compiled]]) -> Iterator[str]:
    """Each candidate scope that leaves out every target kind that failed so far (an error
    in a library or build script fails every scope: then only the first is tried)."""
    for scope in candidates:
        failed = frozenset().union(*(run.failed_kinds for _, run in tried))
        if tried and not failed:
            return  # an error no narrower scope avoids (cargo's own, or a library's)
        if not any(_KIND_FLAGS.get(kind, "--lib") in _flags(scope) for kind in failed):
            yield scope


def _flags(scope: str) -> set[str]:
    """The target flags a scope stands for (cargo test's default: all but benches)."""
    if scope == ALL_TARGETS:
        return {"--lib", *_KIND_FLAGS.values()}
    if not scope:
        return {"--lib", "--bins", "--tests", "--examples"}
    return set(scope.split())


def _broken(command: str, tried: list[tuple[str, Compiled]]) -> str:
    if not tried:
        return f"`{command}` was not run"
    scopes = ", ".join(f"`{scope}`" if scope else "the default targets" for scope, _ in tried)
    run = tried[0][1]
    cause = run.errors[0] if run.errors else _first_error(run.output) or f"exit {run.returncode}"
    return f"`{command}` does not compile today ({cause}; tried {scopes})"


def _compile(root: Path, args: list[str], env: Mapping[str, str]) -> Compiled | None:
    run = _run(root, [*args, "--message-format=json"], env)
    if run is None:
        return None
    errors: list[str] = []
    kinds: set[str] = set()
    # a lib and its unit tests (`--all-targets`) compile one file twice: the same warning twice,
    # which cargo itself shows once ("1 duplicate")
    warnings: set[str] = set()
    for line in run.stdout.splitlines():
        try:
            message = json.loads(line)
        except json.JSONDecodeError:
            continue
        if not isinstance(message, dict) or message.get("reason") != "compiler-message":
            continue
        body = message.get("message") or {}
        target = message.get("target") or {}
        level = body.get("level")
        if level == "warning" and body.get("spans"):  # not the "N warnings emitted" line
            warnings.add(str(body.get("rendered") or body.get("message")))
        elif level == "error":
            kind = (target.get("kind") or ["lib"])[0]
            kinds.add(kind if kind in _KIND_FLAGS else "lib")
            code = (body.get("code") or {}).get("code")
            head = f"error[{code}]" if code else "error"
            package = str(message.get("package_id", "")).split("#")[-1].split("@")[0]
            where = f"{kind} `{target.get('name', '?')}` of {package.rsplit('/', 1)[-1]}"
            errors.append(f"{head}: {body.get('message', '').splitlines()[0]} ({where})")
    return Compiled(run.returncode, tuple(errors), frozenset(kinds), len(warnings), run.stderr)


def _first_error(text: str) -> str:
    for line in text.splitlines():
        if line.strip().lower().startswith("error"):
            return line.strip()
    return ""


def _scratch_env(scratch: str) -> dict[str, str]:
    return {"CARGO_TARGET_DIR": f"{scratch}/target", "CARGO_BUILD_BUILD_DIR": f"{scratch}/build"}


def probe_env(root: Path, channel: str | None) -> dict[str, str]:
    """The environment probes run cargo in: CI's settings, and CI's toolchain (``stable`` by
    default) when no rust-toolchain file chooses one and rustup has it, so a laptop whose
    default is nightly does not pass what stable CI would fail."""
    env = {**os.environ, "CARGO_INCREMENTAL": "0", "CARGO_TERM_COLOR": "never"}
    for name in ("RUSTFLAGS", "CARGO_TARGET_DIR", "CARGO_BUILD_TARGET_DIR"):
        env.pop(name, None)
    if channel is None and shutil.which("rustup"):
        has = subprocess.run(
            ["rustup", "run", "stable", "cargo", "--version"],
            cwd=root,
            capture_output=True,
            check=False,
        )
        if has.returncode == 0:
            env["RUSTUP_TOOLCHAIN"] = "stable"
    return env


def _run(
    root: Path, args: list[str], env: Mapping[str, str]
) -> subprocess.CompletedProcess[str] | None:
    try:
        return subprocess.run(
            ["cargo", *args], cwd=root, env=dict(env), capture_output=True, text=True, check=False
        )
    except OSError:
        return None
