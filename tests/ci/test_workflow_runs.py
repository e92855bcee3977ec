"""Every `run:` step of the generated workflow, executed here in order, job by job, on a freshly
initialised copy of the example workspace; this machine's toolchain stands in for the setup
actions. nextest is off: cargo-nextest is not installed here (its install is a long compile)."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from conftest import REPO, build_file_tree, run_buildkit
from workflow_runner import WORKFLOW, LocalRunner, buildkit_remote

JOBS = ("lint", "test", "hakari", "buildkit")


@pytest.mark.slow
def test_every_run_step_succeeds_on_a_fresh_repository(example: Path, tmp_path: Path) -> None:
    # buildkit in the `buildkit check` job comes from this checkout's commit, through git.
    source, git_env = buildkit_remote(tmp_path)
    profile = {
        "version": 1,
        "hakari": {"enabled": True},
        "ci": {"nextest": False, "buildkit_source": source},
    }
    (example / "buildkit.yaml").write_text(yaml.safe_dump(profile))
    ran = run_buildkit("init", "--yes", example)
    assert ran.exit_code == 0, ran.stdout + ran.stderr
    workflow = yaml.safe_load((example / WORKFLOW).read_text())
    assert tuple(workflow["jobs"]) == JOBS
    install = workflow["jobs"]["buildkit"]["steps"][-2]["env"]["BUILDKIT_REQUIREMENT"]
    assert install == f"buildkit-rs @ {source}"

    scratch = tmp_path / "runner"
    scratch.mkdir()
    runner = LocalRunner(example, scratch, workflow, git_env)
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


def _run_all(root: Path, scratch: Path) -> tuple[dict[str, Any], LocalRunner]:
    """Every job, with the `buildkit check` job turned on the way init's summary says
    (ci.buildkit_source: this checkout's commit, served by a local stand-in for its remote)."""
    scratch.mkdir()
    source, git_env = buildkit_remote(scratch)
    profile = root / "buildkit.yaml"
    data = yaml.safe_load(profile.read_text())
    data["ci"]["buildkit_source"] = source
    profile.write_text(yaml.safe_dump(data, sort_keys=False))
    ran = run_buildkit("render", root)
    assert ran.exit_code == 0, ran.stdout + ran.stderr
    workflow = yaml.safe_load((root / WORKFLOW).read_text())
    runner = LocalRunner(root, scratch, workflow, git_env)
    for job in workflow["jobs"]:
        runner.run_job(job)
    expected = [
        (j, s["name"]) for j in workflow["jobs"] for s in workflow["jobs"][j]["steps"] if "run" in s
    ]
    assert [(r.job, r.name) for r in runner.ran] == expected
    return workflow, runner


@pytest.mark.slow
def test_a_repository_with_clippy_warnings_and_unformatted_code_gets_a_green_workflow(
    tmp_path: Path,
) -> None:
    # clippy::needless_return warns; the odd spacing is not rustfmt's.
    root = _workspace(
        tmp_path / "ws",
        {"alpha/src/lib.rs": "pub fn one() -> i32 {\n    return  1;\n}\n"},
    )
    ran = run_buildkit("init", "--yes", root)  # no profile yet: init runs clippy and rustfmt
    assert ran.exit_code == 0, ran.stdout + ran.stderr
    assert (
        "ci.clippy_deny_warnings: false: `cargo clippy --workspace --all-targets` reports "
        "1 warning(s) today"
    ) in ran.stdout
    assert (
        "chose: ci.fmt: false: `cargo fmt --all --check` finds 1 unformatted place(s)" in ran.stdout
    )
    workflow, runner = _run_all(root, tmp_path / "runner")
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
    # The pinned source installed buildkit-rs, whose `buildkit check` passes.
    assert "Successfully installed" in runner.output_of("buildkit", "Install buildkit")
    assert "ok: " in runner.output_of("buildkit", "buildkit check")


@pytest.mark.slow
def test_a_clippy_clean_repository_gets_fatal_warnings(tmp_path: Path) -> None:
    root = _workspace(tmp_path / "ws", {})
    ran = run_buildkit("init", "--yes", root)
    assert ran.exit_code == 0, ran.stdout + ran.stderr
    assert (
        "chose: ci.clippy_deny_warnings: true: `cargo clippy --workspace --all-targets` "
        "reports no warnings today"
    ) in ran.stdout
    workflow, runner = _run_all(root, tmp_path / "runner")
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
