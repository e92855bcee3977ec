"""Every `run:` step of the generated workflow, executed here in order, job by job, on a freshly
initialised copy of the example workspace; this machine's toolchain stands in for the setup
actions. nextest is off: cargo-nextest is not installed here (its install is a long compile)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from conftest import REPO, build_file_tree, run_buildkit

WORKFLOW = ".github/workflows/rust.yml"
JOBS = ("lint", "test", "hakari", "buildkit")
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
    ) -> None:
        self.root = root
        self.scratch = scratch
        self.workflow = workflow
        self.extra_env = extra_env or {}
        self.ran: list[Ran] = []
        self.envs: dict[str, dict[str, str]] = {}  # each job's environment, as its steps saw it

    def run_job(self, job_name: str) -> None:
        job = self.workflow["jobs"][job_name]
        env = {k: v for k, v in os.environ.items() if k not in SCRUBBED}
        env.update({"CI": "true", "GITHUB_ACTIONS": "true", **self.extra_env})
        env.update({k: str(v) for k, v in self.workflow.get("env", {}).items()})
        env.update({k: str(v) for k, v in job.get("env", {}).items()})
        shell = self.workflow["defaults"]["run"]["shell"]
        assert shell == "bash"
        self.envs[job_name] = env
        for index, step in enumerate(job["steps"]):
            if "uses" in step:
                self.stand_in(step, env)
                continue
            step_env = {**env, **{k: str(v) for k, v in step.get("env", {}).items()}}
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
        done = subprocess.run(
            [
                "bash",
                "--noprofile",
                "--norc",
                "-eo",
                "pipefail",
                str(self.scratch / f"{job}-{index}.sh"),
            ],
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


@pytest.mark.slow
def test_every_run_step_succeeds_on_a_fresh_repository(example: Path, tmp_path: Path) -> None:
    # buildkit in the `buildkit check` job comes from this checkout, not from an index.
    profile = {
        "version": 1,
        "hakari": {"enabled": True},
        "ci": {"nextest": False, "buildkit_requirement": str(REPO)},
    }
    (example / "buildkit.yaml").write_text(yaml.safe_dump(profile))
    ran = run_buildkit("init", "--yes", example)
    assert ran.exit_code == 0, ran.stdout + ran.stderr
    workflow = yaml.safe_load((example / WORKFLOW).read_text())
    assert tuple(workflow["jobs"]) == JOBS
    assert workflow["jobs"]["buildkit"]["steps"][-2]["env"]["BUILDKIT_REQUIREMENT"] == str(REPO)

    scratch = tmp_path / "runner"
    scratch.mkdir()
    runner = LocalRunner(example, scratch, workflow)
    for job in JOBS:
        runner.run_job(job)

    # Each `run:` step ran once, in the workflow's order, and did its work.
    expected = [(j, s["name"]) for j in JOBS for s in workflow["jobs"][j]["steps"] if "run" in s]
    assert [(r.job, r.name) for r in runner.ran] == expected
    assert "Checking greet" in runner.output_of("lint", "cargo clippy")
    tests = runner.output_of("test", "cargo test")
    assert "Running unittests" in tests and "test result: ok" in tests
    # Nothing to regenerate on a fresh repository (`--diff` prints a diff when there is)...
    assert runner.output_of("hakari", "cargo hakari generate --diff").strip() == ""
    verify = runner.output_of("hakari", "cargo hakari verify")
    assert "works correctly" in verify, verify
    installed = runner.output_of("buildkit", "Install buildkit")
    assert "Successfully installed" in installed and "buildkit-" in installed
    check = runner.output_of("buildkit", "buildkit check")
    assert "ok: " in check and "match buildkit.yaml; hakari verified" in check
    # CARGO_INCREMENTAL=0 from the workflow env reached cargo: no incremental dirs were made.
    assert not list((example / "target").glob("*/incremental/*"))
    assert json.dumps(workflow["env"]["CARGO_INCREMENTAL"]) == "0"

    # ...and the same step fails once the workspace-hack drifts from what hakari would write.
    hack = example / "workspace-hack" / "Cargo.toml"
    hack.write_text(
        hack.read_text().replace(
            "### END HAKARI SECTION",
            '[dependencies]\ntinyhash = { path = "../vendor/tinyhash" }\n### END HAKARI SECTION',
        )
    )
    drifted = runner.rerun("hakari", "cargo hakari generate --diff")
    assert drifted.returncode != 0 and "+++ modified" in drifted.output, drifted.output


def _workspace(root: Path, files: dict[str, str]) -> Path:
    base = {
        "Cargo.toml": '[workspace]\nmembers = ["alpha", "beta"]\nresolver = "2"\n',
        "alpha/Cargo.toml": '[package]\nname = "alpha"\nversion = "0.1.0"\nedition = "2021"\n',
        "alpha/src/lib.rs": "pub fn one() -> i32 {\n    1\n}\n",
        "beta/Cargo.toml": '[package]\nname = "beta"\nversion = "0.1.0"\nedition = "2021"\n',
        "beta/src/lib.rs": "pub fn two() -> i32 {\n    2\n}\n",
    }
    return build_file_tree(root, {**base, **files})


@pytest.fixture(scope="module")
def this_wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """This checkout built as the `buildkit-rs` wheel: what PyPI would serve for the default
    `ci.buildkit_requirement` (`buildkit-rs==<version>`), offered to pip with --find-links."""
    out = tmp_path_factory.mktemp("wheels")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(out), str(REPO)],
        check=True,
        timeout=600,
    )
    assert [p.name for p in out.glob("buildkit_rs-*.whl")], list(out.iterdir())
    return out


def _run_all(root: Path, scratch: Path, wheels: Path) -> tuple[dict[str, Any], LocalRunner]:
    workflow = yaml.safe_load((root / WORKFLOW).read_text())
    scratch.mkdir()
    runner = LocalRunner(root, scratch, workflow, {"PIP_FIND_LINKS": str(wheels)})
    for job in workflow["jobs"]:
        runner.run_job(job)
    expected = [
        (j, s["name"]) for j in workflow["jobs"] for s in workflow["jobs"][j]["steps"] if "run" in s
    ]
    assert [(r.job, r.name) for r in runner.ran] == expected
    return workflow, runner


@pytest.mark.slow
def test_a_repository_with_clippy_warnings_and_unformatted_code_gets_a_green_workflow(
    tmp_path: Path, this_wheel: Path
) -> None:
    # clippy::needless_return warns; the odd spacing is not rustfmt's.
    root = _workspace(
        tmp_path / "ws",
        {"alpha/src/lib.rs": "pub fn one() -> i32 {\n    return  1;\n}\n"},
    )
    ran = run_buildkit("init", "--yes", root)  # no profile yet: init runs clippy and rustfmt
    assert ran.exit_code == 0, ran.stdout + ran.stderr
    assert "ci.clippy_deny_warnings: false: cargo clippy reports 1 warning(s) today" in ran.stdout
    assert "chose: ci.fmt: false: `cargo fmt --all --check` fails today" in ran.stdout
    workflow, runner = _run_all(root, tmp_path / "runner", this_wheel)
    assert list(workflow["jobs"]) == ["lint", "test", "hakari", "buildkit"]
    clippy = runner.output_of("lint", "cargo clippy")
    assert "warning: unneeded `return` statement" in clippy
    # The counterfactual: the default (deny) would have been red on this repository.
    denied = subprocess.run(
        ["cargo", "clippy", "--workspace", "--all-targets", "--", "-D", "warnings"],
        cwd=root,
        capture_output=True,
        text=True,
        check=False,
    )
    assert denied.returncode != 0
    assert "test result: ok" in runner.output_of("test", "cargo test")
    # The default requirement installed buildkit-rs, whose `buildkit check` passes.
    assert "Successfully installed" in runner.output_of("buildkit", "Install buildkit")
    assert "ok: " in runner.output_of("buildkit", "buildkit check")


@pytest.mark.slow
def test_a_clippy_clean_repository_gets_fatal_warnings(tmp_path: Path, this_wheel: Path) -> None:
    root = _workspace(tmp_path / "ws", {})
    ran = run_buildkit("init", "--yes", root)
    assert ran.exit_code == 0, ran.stdout + ran.stderr
    assert "chose: ci.clippy_deny_warnings: true: cargo clippy reports no warnings" in ran.stdout
    workflow, runner = _run_all(root, tmp_path / "runner", this_wheel)
    assert workflow["jobs"]["lint"]["steps"][-1]["run"].endswith("-- -D warnings")
    assert runner.output_of("lint", "cargo fmt --check") == ""


def _installed_toolchains() -> list[str]:
    done = subprocess.run(
        ["rustup", "toolchain", "list"], capture_output=True, text=True, check=False
    )
    return [line.split()[0] for line in done.stdout.splitlines() if line.strip()]


def test_the_msrv_job_checks_with_the_declared_rust_version(tmp_path: Path) -> None:
    # dev/setup.d/12-rust-toolchains.sh installs the toolchains of dev/test-toolchains.txt
    wanted = [
        line.split()[0]
        for line in (REPO / "dev" / "test-toolchains.txt").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    (msrv,) = [t for t in wanted if re.match(r"^\d+\.\d+\.\d+$", t)]
    toolchains = _installed_toolchains()
    for toolchain in (msrv, "nightly"):
        assert any(t.startswith(f"{toolchain}-") for t in toolchains), (
            f"rustup toolchain {toolchain} is missing (`rustup toolchain list`: {toolchains}); "
            "dev/setup.d/12-rust-toolchains.sh installs it"
        )
    # rust-toolchain.toml says nightly: the MSRV job must still build with the MSRV.
    root = _workspace(
        tmp_path / "ws",
        {
            "Cargo.toml": '[workspace]\nmembers = ["alpha", "beta"]\nresolver = "2"\n'
            f'[workspace.package]\nrust-version = "{msrv}"\n',
            "alpha/Cargo.toml": '[package]\nname = "alpha"\nversion = "0.1.0"\n'
            'edition = "2021"\nrust-version.workspace = true\n',
            "rust-toolchain.toml": '[toolchain]\nchannel = "nightly"\n',
        },
    )
    ran = run_buildkit("init", "--yes", "--no-clippy", root)
    assert ran.exit_code == 0, ran.stdout + ran.stderr
    assert f"chose: ci.msrv: {msrv}: a job runs `cargo check`" in ran.stdout
    workflow = yaml.safe_load((root / WORKFLOW).read_text())
    job = workflow["jobs"]["msrv"]
    assert job["steps"][1]["with"]["toolchain"] == msrv
    scratch = tmp_path / "runner"
    scratch.mkdir()
    runner = LocalRunner(root, scratch, workflow)
    runner.run_job("msrv")
    assert [r.name for r in runner.ran] == [f"cargo check (rust-version {msrv})"]
    assert "Checking alpha" in runner.ran[0].output
    # cargo records the rustc it used: the MSRV, not the toolchain file's nightly.
    used = json.loads((root / "target" / ".rustc_info.json").read_text())["outputs"]
    versions = {line for o in used.values() for line in o["stdout"].splitlines()}
    assert any(line.startswith(f"rustc {msrv} ") for line in versions), versions
    assert not any("nightly" in line for line in versions), versions
