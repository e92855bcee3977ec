"""init runs rustfmt, clippy and the tests on the repository as it is and classifies what it
sees: a check that does not compile is not "warnings". Each test builds a small package with
one shape, lets init choose, then runs the generated workflow's jobs here: they pass."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import yaml

from conftest import build_file_tree, run_buildkit
from workflow_runner import WORKFLOW, LocalRunner

PACKAGE = '[package]\nname = "alpha"\nversion = "0.1.0"\nedition = "2021"\n'
LIB = "/// One.\npub fn one() -> i32 {\n    1\n}\n"
# A nightly-only bench, as many crates have: error E0554 on stable.
NIGHTLY_BENCH = (
    "#![feature(test)]\nextern crate test;\n\n#[bench]\n"
    "fn one(b: &mut test::Bencher) {\n    b.iter(alpha::one);\n}\n"
)
INTEGRATION = "#[test]\nfn one_is_one() {\n    assert_eq!(alpha::one(), 1);\n}\n"


def package(root: Path, files: dict[str, str]) -> Path:
    """One package (so no cargo-hakari), no dependencies (nothing to download)."""
    build_file_tree(root, {"Cargo.toml": PACKAGE, "src/lib.rs": LIB, **files})
    subprocess.run(["cargo", "generate-lockfile"], cwd=root, check=True, capture_output=True)
    return root


def init(root: Path) -> tuple[str, dict[str, object]]:
    ran = run_buildkit("init", "--yes", root)  # no --no-probes: init compiles and runs
    assert ran.exit_code == 0, ran.stdout + ran.stderr
    return ran.stdout, yaml.safe_load((root / "buildkit.yaml").read_text())["ci"]


def run_jobs(root: Path, scratch: Path, jobs: list[str]) -> LocalRunner:
    workflow = yaml.safe_load((root / WORKFLOW).read_text())
    scratch.mkdir()
    runner = LocalRunner(root, scratch, workflow)
    for job in jobs:
        runner.run_job(job)
    return runner


def test_a_nightly_only_bench_narrows_clippy_to_the_targets_that_compile(tmp_path: Path) -> None:
    root = package(tmp_path / "ws", {"benches/speed.rs": NIGHTLY_BENCH, "tests/it.rs": INTEGRATION})
    out, ci = init(root)
    scope = "--lib --bins --tests --examples"
    assert ci["clippy_targets"] == scope
    assert ci["clippy_deny_warnings"] is True  # clean where it compiles: not "warnings"
    assert "test_targets" not in ci and "test" not in ci  # cargo test builds no bench
    summary = next(line for line in out.splitlines() if "ci.clippy_targets" in line)
    assert f"chose: ci.clippy_targets: {scope!r}: the widest set of targets" in summary
    assert "`--all-targets` does not compile: error[E0554]" in summary
    assert "bench `speed` of alpha" in summary
    assert "fails today" not in out and "warning(s)" not in out
    # The counterfactual: what the workflow ran before is red on this repository.
    before = subprocess.run(
        ["cargo", "clippy", "--workspace", "--all-targets"],
        cwd=root,
        capture_output=True,
        text=True,
        check=False,
    )
    assert before.returncode != 0 and "E0554" in before.stderr
    runner = run_jobs(root, tmp_path / "runner", ["lint", "test"])
    assert "Checking alpha" in runner.output_of("lint", "cargo clippy")
    tests = runner.output_of("test", "cargo test")
    assert "one_is_one ... ok" in tests and "Doc-tests alpha" in tests


def test_a_library_that_needs_nightly_leaves_clippy_and_tests_out(tmp_path: Path) -> None:
    root = package(tmp_path / "ws", {"src/lib.rs": "#![feature(test)]\n" + LIB})
    out, ci = init(root)
    assert ci["clippy"] is False and ci["test"] is False
    assert "clippy_deny_warnings" not in ci  # no clippy, nothing to deny
    lines = out.splitlines()
    clippy = next(line for line in lines if line.startswith("chose: ci.clippy: false"))
    assert "`cargo clippy --workspace` does not compile today (error[E0554]" in clippy
    assert "lib `alpha` of alpha" in clippy and "set ci.clippy: true" in clippy
    test = next(line for line in lines if line.startswith("chose: ci.test: false"))
    assert "`cargo test --workspace` does not compile today (error[E0554]" in test
    found = json.loads(run_buildkit("init", "--json", "--dry-run", root).stdout)
    assert found["found"] is None  # the profile exists now: no second survey
    workflow = yaml.safe_load((root / WORKFLOW).read_text())
    assert "test" not in workflow["jobs"]
    runner = run_jobs(root, tmp_path / "runner", ["lint"])
    assert [r.name for r in runner.ran] == ["cargo fmt --check"]


def test_failing_tests_leave_the_test_job_out_and_say_which(tmp_path: Path) -> None:
    failing = "#[test]\nfn broken() {\n    assert_eq!(alpha::one(), 2);\n}\n"
    root = package(tmp_path / "ws", {"tests/it.rs": INTEGRATION + "\n" + failing})
    out, ci = init(root)
    assert ci["test"] is False and ci["clippy_deny_warnings"] is True
    assert (
        "chose: ci.test: false: `cargo test --workspace` fails today (test(s) fail: broken); "
        "set ci.test: true once the tests pass"
    ) in out
    runner = run_jobs(root, tmp_path / "runner", ["lint"])
    assert runner.output_of("lint", "cargo fmt --check") == ""
    # Fixed, and the key the summary names turns the job on: it passes.
    (root / "tests/it.rs").write_text(INTEGRATION)
    profile = root / "buildkit.yaml"
    profile.write_text(profile.read_text().replace("test: false", "test: true"))
    assert run_buildkit("render", root).exit_code == 0
    runner = run_jobs(root, tmp_path / "runner2", ["test"])
    assert "one_is_one ... ok" in runner.output_of("test", "cargo test")
