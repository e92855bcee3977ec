"""Runs a generated workflow's jobs here, step by step, the way a GitHub runner would: `run:`
scripts with bash as GitHub starts it, and local stand-ins for the setup actions (this machine's
toolchain, a venv for setup-python). Shared by the tests that run generated workflows."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

WORKFLOW = ".github/workflows/rust.yml"
ACTIONS_CORE = Path(__file__).resolve().parent.parent / ".tools" / "actions-core"
# A clean runner has none of these; the developer's shell might.
ANSI = re.compile(r"\x1b\[[0-9;]*m")
SCRUBBED = (
    "CARGO_TARGET_DIR",
    "CARGO_BUILD_TARGET_DIR",
    "RUSTFLAGS",
    "VIRTUAL_ENV",
    "RUSTC_WRAPPER",
)


@dataclass
class Ran:
    job: str
    name: str
    returncode: int
    output: str


class LocalRunner:
    """Runs a workflow's jobs the way a runner would, with stand-ins for the setup actions."""

    def __init__(
        self,
        root: Path,
        scratch: Path,
        workflow: dict[str, Any],
        extra_env: dict[str, str] | None = None,
        secrets: dict[str, str] | None = None,
        action_env: dict[str, str] | None = None,
    ) -> None:
        self.root = root
        self.scratch = scratch
        self.workflow = workflow
        self.extra_env = extra_env or {}
        # `${{ secrets.NAME }}` in a step's env, as the repository's secrets would fill it
        self.secrets = secrets or {}
        # what a runner gives actions only, never `run` steps (ACTIONS_RUNTIME_TOKEN, ...)
        self.action_env = action_env or {}
        self.masks: list[str] = []  # values a step asked the runner to mask in logs
        self.ran: list[Ran] = []
        self.envs: dict[str, dict[str, str]] = {}  # each job's environment, as its steps saw it
        # the files a runner gives every step: $GITHUB_PATH additions, the job summary
        self.runner_temp = scratch / "runner-temp"
        self.runner_temp.mkdir(exist_ok=True)
        self.github_path = scratch / "github-path"
        self.github_env = scratch / "github-env"
        self.summary = scratch / "step-summary.md"

    def run_job(self, job_name: str) -> None:
        job = self.workflow["jobs"][job_name]
        env = {k: v for k, v in os.environ.items() if k not in SCRUBBED}
        env.update({"CI": "true", "GITHUB_ACTIONS": "true", **self.extra_env})
        env.update({k: str(v) for k, v in self.workflow.get("env", {}).items()})
        env.update({k: str(v) for k, v in job.get("env", {}).items()})
        for name, value in env.items():
            if "${{" in value:
                # GitHub evaluates the expression per event: the test says what it evaluates to
                assert name in self.extra_env, f"{name}: no local value for {value!r}"
                env[name] = self.extra_env[name]
        self.github_path.write_text("")
        self.github_env.write_text("")
        env.update(
            RUNNER_TEMP=str(self.runner_temp),
            GITHUB_PATH=str(self.github_path),
            GITHUB_ENV=str(self.github_env),
            GITHUB_STEP_SUMMARY=str(self.summary),
        )
        self.job_name = job_name
        shell = self.workflow["defaults"]["run"]["shell"]
        assert shell == "bash"
        self.envs[job_name] = env
        for index, step in enumerate(job["steps"]):
            if "uses" in step:
                self.stand_in(step, env)
                env.update(self.exported())
                continue
            step_env = {**env, **{k: self.expand(str(v)) for k, v in step.get("env", {}).items()}}
            script = self.scratch / f"{job_name}-{index}.sh"
            script.write_text(step["run"] + "\n")
            # GitHub runs `shell: bash` as `bash --noprofile --norc -eo pipefail {0}`.
            done = subprocess.run(
                ["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script)],
                cwd=self.root,
                env=step_env,
                capture_output=True,
                text=True,
                check=False,
                timeout=900,
            )
            # CARGO_TERM_COLOR=always (the workflow's env) colours cargo's output: read it plain.
            output = ANSI.sub("", done.stdout + done.stderr)
            self.ran.append(Ran(job_name, step["name"], done.returncode, output))
            assert done.returncode == 0, f"{job_name} / {step['name']}:\n{done.stdout}{done.stderr}"
            env.update(self.exported())
            # what a step appends to $GITHUB_PATH comes first on PATH in the later steps
            added = [line for line in self.github_path.read_text().splitlines() if line]
            for directory in added:
                if not env["PATH"].startswith(directory + os.pathsep):
                    env["PATH"] = f"{directory}{os.pathsep}{env['PATH']}"

    def exported(self) -> dict[str, str]:
        """The variables steps wrote to $GITHUB_ENV so far, as the runner reads the file:
        ``NAME=value`` lines and ``NAME<<DELIMITER`` blocks."""
        lines = self.github_env.read_text().splitlines()
        out: dict[str, str] = {}
        i = 0
        while i < len(lines):
            line = lines[i]
            i += 1
            if "<<" in line and ("=" not in line or line.index("<<") < line.index("=")):
                name, delimiter = line.split("<<", 1)
                end = lines.index(delimiter, i)
                out[name] = "\n".join(lines[i:end])
                i = end + 1
            elif line:
                name, value = line.split("=", 1)
                out[name] = value
        return out

    def github_script(self, step: dict[str, Any], env: dict[str, str]) -> None:
        """actions/github-script's `script` run for real in node with the @actions/core its
        release bundles (dev/setup.d/61-actions-core.sh), as an async function given `core`
        (the other arguments, `github` and `context`, need GitHub's API: not passed). Its `if:`
        must be the one form this knows, ``${{ env.NAME != 'off' }}``."""
        condition = step.get("if")
        if condition is not None:
            found = re.fullmatch(r"\$\{\{ env\.([A-Za-z_][A-Za-z0-9_]*) != 'off' \}\}", condition)
            assert found, f"no local evaluation of {condition!r}"
            if env.get(found.group(1)) == "off":
                self.ran.append(Ran(self.job_name, step["name"], 0, "skipped"))
                return
        core = ACTIONS_CORE / "node_modules" / "@actions" / "core"
        assert core.is_dir(), f"{core} is missing: run dev/setup.d/61-actions-core.sh"
        runner = (
            "const core = require(process.argv[1]);"
            "const AsyncFunction = Object.getPrototypeOf(async function () {}).constructor;"
            "new AsyncFunction('core', process.env.BUILDKIT_TEST_SCRIPT)(core)"
            ".catch((e) => { console.error(e); process.exit(1); });"
        )
        done = subprocess.run(
            ["node", "-e", runner, str(core)],
            cwd=self.root,
            env={**env, **self.action_env, "BUILDKIT_TEST_SCRIPT": step["with"]["script"]},
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )
        # `::add-mask::VALUE` is a command to the runner, which masks VALUE in every log line
        # and prints nothing: kept here as the masks asked for, out of the step's output
        kept = []
        for line in done.stdout.splitlines(keepends=True):
            if line.startswith("::add-mask::"):
                self.masks.append(line.removeprefix("::add-mask::").rstrip("\n"))
            else:
                kept.append(line)
        output = "".join(kept) + done.stderr
        self.ran.append(Ran(self.job_name, step["name"], done.returncode, output))
        assert done.returncode == 0, f"{step['name']}:\n{done.stdout}{done.stderr}"

    def expand(self, value: str) -> str:
        """A step's env value with ``${{ secrets.NAME }}`` filled in, as GitHub does."""
        match = re.fullmatch(r"\$\{\{ secrets\.([A-Za-z_][A-Za-z0-9_]*) \}\}", value)
        if match:
            return self.secrets.get(match.group(1), "")
        assert "${{" not in value, f"no local stand-in for {value!r}"
        return value

    def stand_in(self, step: dict[str, Any], env: dict[str, str]) -> None:
        action = step["uses"].split("@")[0]
        inputs = step.get("with", {})
        if action == "actions/checkout":
            assert inputs["persist-credentials"] is False  # the workspace is the checkout
        elif action == "dtolnay/rust-toolchain":
            for component in filter(
                None, (c.strip() for c in inputs.get("components", "").split(","))
            ):
                tool = {"rustfmt": "fmt", "clippy": "clippy"}[component]
                self.check(["cargo", tool, "--version"], env)
        elif action == "Swatinem/rust-cache":
            pass  # the shared CARGO_HOME is the cache here
        elif action == "taiki-e/install-action":
            for spec in inputs["tool"].split(","):
                name, _, version = spec.strip().partition("@")
                shown = self.check(["cargo", name.removeprefix("cargo-"), "--version"], env)
                assert version in shown, f"{spec} wanted, found {shown}"
        elif action == "actions/github-script":
            self.github_script(step, env)
        elif action == "actions/setup-python":
            venv = self.scratch / "setup-python"
            self.check([sys.executable, "-m", "venv", str(venv)], env)
            env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env['PATH']}"
        else:
            pytest.fail(f"no local stand-in for {action}")

    def check(self, argv: list[str], env: dict[str, str]) -> str:
        done = subprocess.run(
            argv, cwd=self.root, env=env, capture_output=True, text=True, check=False
        )
        assert done.returncode == 0, f"{argv}: {done.stdout}{done.stderr}"
        return done.stdout

    def rerun(self, job: str, name: str) -> Ran:
        """Run a `run:` step that already ran once again, as it ran, and return how it went."""
        steps = self.workflow["jobs"][job]["steps"]
        (index,) = [i for i, step in enumerate(steps) if step.get("name") == name]
        step_env = {k: str(v) for k, v in steps[index].get("env", {}).items()}
        script = str(self.scratch / f"{job}-{index}.sh")
        done = subprocess.run(
            ["bash", "--noprofile", "--norc", "-eo", "pipefail", script],
            cwd=self.root,
            env={**self.envs[job], **step_env},
            capture_output=True,
            text=True,
            check=False,
            timeout=900,
        )
        return Ran(job, name, done.returncode, ANSI.sub("", done.stdout + done.stderr))

    def output_of(self, job: str, name: str) -> str:
        found = [r for r in self.ran if (r.job, r.name) == (job, name)]
        assert len(found) == 1, f"{job} / {name} did not run exactly once"
        assert found[0].returncode == 0
        return found[0].output


# The `buildkit check` job installs buildkit from a git URL at a commit; in tests a bare clone
# of this checkout stands in for that remote (git's url.insteadOf sends the URL there), so the
# job's install step runs unmodified and nothing is fetched from the network.
FAKE_REMOTE = "https://buildkit.invalid/buildkit"


def buildkit_remote(scratch: Path) -> tuple[str, dict[str, str]]:
    """``ci.buildkit_source`` for this checkout's HEAD commit, and the environment in which
    git finds that commit at the source's URL."""
    repo = Path(__file__).resolve().parent.parent
    commit = subprocess.run(
        ["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True, check=True
    ).stdout.strip()
    bare = scratch / "buildkit.git"
    subprocess.run(["git", "clone", "--quiet", "--bare", str(repo), str(bare)], check=True)
    config = scratch / "gitconfig"
    config.write_text(f'[url "file://{bare}"]\n\tinsteadOf = {FAKE_REMOTE}\n')
    env = {"GIT_CONFIG_GLOBAL": str(config), "GIT_CONFIG_NOSYSTEM": "1"}
    return f"git+{FAKE_REMOTE}@{commit}", env
