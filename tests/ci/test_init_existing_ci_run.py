"""A repository with CI of its own, shaped like a well-known workspace's: tests through
`${{ env.CARGO }}` with a feature, the MSRV as a matrix entry, rustfmt in a composite action of
the repository, no clippy. init adds only what is missing, says why, and the generated jobs
pass when run here."""

from __future__ import annotations

import subprocess
from pathlib import Path

import yaml

from conftest import build_file_tree, run_buildkit
from workflow_runner import WORKFLOW, LocalRunner

THEIR_CI = """\
name: ci
on: [push, pull_request]
env:
  CARGO: cargo
jobs:
  test:
    runs-on: ${{ matrix.os }}
    strategy:
      matrix:
        include:
        - {build: pinned, os: ubuntu-latest, rust: 1.85.0}
        - {build: stable, os: ubuntu-latest, rust: stable}
        - {build: macos, os: macos-latest, rust: stable}
    steps:
    - uses: actions/checkout@v4
    - uses: dtolnay/rust-toolchain@master
      with:
        toolchain: ${{ matrix.rust }}
    - run: ${{ env.CARGO }} test --verbose --workspace --features pcre2
  style:
    runs-on: ubuntu-latest
    steps:
    - uses: actions/checkout@v4
    - uses: ./.github/actions/style
"""
STYLE_ACTION = """\
name: style
runs:
  using: composite
  steps:
  - shell: bash
    run: $CARGO fmt --all --check
"""


def test_buildkit_adds_only_what_their_ci_lacks_and_it_passes(tmp_path: Path) -> None:
    root = build_file_tree(
        tmp_path / "ws",
        {
            "Cargo.toml": '[package]\nname = "alpha"\nversion = "0.1.0"\nedition = "2021"\n'
            'rust-version = "1.85"\n\n[features]\npcre2 = []\n',
            "src/lib.rs": "/// One.\npub fn one() -> i32 {\n    1\n}\n",
            ".github/workflows/ci.yml": THEIR_CI,
            ".github/actions/style/action.yml": STYLE_ACTION,
        },
    )
    subprocess.run(["cargo", "generate-lockfile"], cwd=root, check=True, capture_output=True)
    ran = run_buildkit("init", "--yes", root)  # probes on: clippy compiles and is clean
    assert ran.exit_code == 0, ran.stdout + ran.stderr
    out = ran.stdout
    assert (
        "found: .github/workflows/ci.yml runs tests (--features pcre2), rustfmt, the MSRV on "
        "ubuntu-latest, macos-latest, through .github/actions/style/action.yml"
    ) in out
    assert "chose: ci.test: false: .github/workflows/ci.yml already runs the tests" in out
    assert "chose: ci.fmt: false: .github/workflows/ci.yml already runs rustfmt" in out
    assert "chose: no MSRV job: .github/workflows/ci.yml already checks rust-version 1.85" in out
    assert (
        "chose: .github/workflows/rust.yml adds only what your workflows do not run: "
        "lint (clippy); its jobs build with CARGO_INCREMENTAL=0 and rust-cache (lint); "
        "your workflows stay as they are"
    ) in out
    ci = yaml.safe_load((root / "buildkit.yaml").read_text())["ci"]
    assert ci["test"] is False and ci["fmt"] is False and "msrv" not in ci
    workflow = yaml.safe_load((root / WORKFLOW).read_text())
    assert list(workflow["jobs"]) == ["lint"]  # no second test job, no MSRV job
    scratch = tmp_path / "runner"
    scratch.mkdir()
    runner = LocalRunner(root, scratch, workflow)
    runner.run_job("lint")
    assert [r.name for r in runner.ran] == ["cargo clippy"]
    assert "Checking alpha" in runner.output_of("lint", "cargo clippy")
    assert workflow["jobs"]["lint"]["steps"][-1]["run"].endswith("-- -D warnings")
