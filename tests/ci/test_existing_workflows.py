"""Reading the repository's own workflows the way GitHub runs them: cargo through a variable,
matrix entries, reusable workflows and composite actions of the repository. Each test builds
the files of its own and reads them with the function init uses."""

from __future__ import annotations

from pathlib import Path

import pytest

from buildkit.existing_ci import cargo_check_kind, cargo_commands, existing_workflows
from conftest import build_file_tree

# The shape of a well-known workspace's CI: cargo through an env variable (cross stands in on
# some targets), tests with a feature, the MSRV as a matrix entry.
RIPGREP_LIKE = """\
name: ci
on: [push, pull_request]
env:
  CARGO: cargo
  TARGET_FLAGS:
jobs:
  test:
    runs-on: ${{ matrix.os }}
    strategy:
      matrix:
        include:
        - build: pinned
          os: ubuntu-latest
          rust: 1.85.0
        - build: stable
          os: ubuntu-latest
          rust: stable
        - build: macos
          os: macos-latest
          rust: nightly
        - build: stable-aarch64
          os: ubuntu-latest
          rust: stable
          target: aarch64-unknown-linux-gnu
    steps:
    - uses: actions/checkout@v4
    - uses: dtolnay/rust-toolchain@master
      with:
        toolchain: ${{ matrix.rust }}
    - name: Use Cross
      if: matrix.os == 'ubuntu-latest' && matrix.target != ''
      run: |
        cargo install cross
        echo "CARGO=cross" >> $GITHUB_ENV
    - name: Build
      run: ${{ env.CARGO }} build --verbose --workspace ${{ env.TARGET_FLAGS }}
    - name: Run tests
      run: ${{ env.CARGO }} test --verbose --workspace --features pcre2 ${{ env.TARGET_FLAGS }}
"""


@pytest.mark.parametrize(
    ("script", "env", "kinds"),
    [
        ("${{ env.CARGO }} test --workspace", {"CARGO": "cargo"}, {"test"}),
        ("${{ env.CARGO }} test --workspace", {"CARGO": "cross"}, {"test"}),
        ("${{ env.CARGO }} test --workspace", {"CARGO": "make"}, set()),
        ("$CARGO clippy --workspace", {}, {"clippy"}),  # set at run time, through $GITHUB_ENV
        ('"${CARGO}" fmt --check', {}, {"fmt"}),
        ("$MAKE test", {}, set()),
        ("cross test --target aarch64-unknown-linux-gnu", {}, {"test"}),
        ("${{ env.RUNNER }} test", {"RUNNER": "/usr/local/bin/cross"}, {"test"}),
    ],
)
def test_cargo_through_a_variable(script: str, env: dict[str, str], kinds: set[str]) -> None:
    assert {cargo_check_kind(c) for c in cargo_commands(script, env)} - {""} == kinds


def test_the_ripgrep_shape_runs_tests_with_its_feature_and_the_msrv(tmp_path: Path) -> None:
    build_file_tree(tmp_path, {".github/workflows/ci.yml": RIPGREP_LIKE})
    [found] = existing_workflows(tmp_path, "1.85")
    assert found.runs == frozenset({"test", "msrv"})
    assert found.features == ("--features pcre2",)
    assert found.runners == ("ubuntu-latest", "macos-latest")
    assert found.describe() == (
        ".github/workflows/ci.yml runs tests (--features pcre2), the MSRV on "
        "ubuntu-latest, macos-latest"
    )
    # Another MSRV is not covered by the 1.85.0 entry.
    [other] = existing_workflows(tmp_path, "1.80")
    assert other.runs == frozenset({"test"})


@pytest.mark.parametrize(
    ("entry", "msrv", "covered"),
    [
        ("rust: 1.85.0", "1.85", True),
        ("rust: 1.85", "1.85.0", True),
        ("rust: '1.70'", "1.70", True),
        ("rust: 1.70", "1.70", True),  # YAML would read 1.70 as the float 1.7
        ("rust: 1.85.1", "1.85.2", False),
        ("rust: 1.851", "1.85", False),
        ("rust: 11.85", "1.85", False),
    ],
)
def test_an_msrv_matrix_entry(tmp_path: Path, entry: str, msrv: str, covered: bool) -> None:
    workflow = (
        "on: push\njobs:\n  t:\n    runs-on: ubuntu-latest\n    strategy:\n      matrix:\n"
        f"        {entry.split(': ')[0]}: [{entry.split(': ')[1]}, stable]\n"
        "    steps:\n      - run: cargo build\n"
    )
    build_file_tree(tmp_path, {".github/workflows/ci.yml": workflow})
    [found] = existing_workflows(tmp_path, msrv)
    assert ("msrv" in found.runs) is covered


def test_matrix_features_are_listed_per_entry(tmp_path: Path) -> None:
    workflow = (
        "on: push\njobs:\n  t:\n    runs-on: ubuntu-latest\n    strategy:\n      matrix:\n"
        "        features: ['', pcre2, 'pcre2 simd']\n    steps:\n"
        '      - run: cargo test --features "${{ matrix.features }}"\n'
        "      - run: cargo test --all-features\n"
    )
    build_file_tree(tmp_path, {".github/workflows/ci.yml": workflow})
    [found] = existing_workflows(tmp_path, None)
    assert found.features == (
        "default features",
        "--features pcre2",
        "--features pcre2 simd",
        "--all-features",
    )


COMPOSITE = """\
name: rust checks
inputs:
  toolchain:
    default: "1.74"
  cargo:
    default: cargo
runs:
  using: composite
  steps:
    - uses: dtolnay/rust-toolchain@master
      with:
        toolchain: ${{ inputs.toolchain }}
    - shell: bash
      run: ${{ inputs.cargo }} clippy --workspace --all-targets -- -D warnings
"""


def test_a_composite_action_of_the_repository_counts_as_the_callers(tmp_path: Path) -> None:
    build_file_tree(
        tmp_path,
        {
            ".github/actions/rust-checks/action.yml": COMPOSITE,
            ".github/workflows/ci.yml": (
                "on: push\njobs:\n  lint:\n    runs-on: ubuntu-latest\n    steps:\n"
                "      - uses: actions/checkout@v4\n      - uses: ./.github/actions/rust-checks\n"
            ),
        },
    )
    [found] = existing_workflows(tmp_path, "1.74")
    assert found.runs == frozenset({"clippy", "msrv"})  # the input's default is the MSRV
    assert found.calls == (".github/actions/rust-checks/action.yml",)
    # An input given by the caller wins over the default.
    (tmp_path / ".github/workflows/ci.yml").write_text(
        "on: push\njobs:\n  lint:\n    runs-on: ubuntu-latest\n    steps:\n"
        "      - uses: ./.github/actions/rust-checks\n        with:\n          toolchain: stable\n"
        "          cargo: make\n"
    )
    [found] = existing_workflows(tmp_path, "1.74")
    assert found.runs == frozenset()


def test_a_reusable_workflow_of_the_repository_counts_as_the_callers(tmp_path: Path) -> None:
    build_file_tree(
        tmp_path,
        {
            ".github/workflows/checks.yml": (
                "on:\n  workflow_call:\n    inputs:\n      features: {type: string}\n"
                "jobs:\n  t:\n    runs-on: ubuntu-latest\n    steps:\n"
                "      - run: cargo nextest run --features ${{ inputs.features }}\n"
            ),
            ".github/workflows/main.yml": (
                "on: push\njobs:\n  call:\n    uses: ./.github/workflows/checks.yml\n"
                "    with:\n      features: serde\n"
            ),
        },
    )
    found = {w.path: w for w in existing_workflows(tmp_path, None)}
    main = found[".github/workflows/main.yml"]
    assert main.runs == frozenset({"test"})
    assert main.features == ("--features serde",)
    assert main.calls == (".github/workflows/checks.yml",)
    assert main.describe() == (
        ".github/workflows/main.yml runs tests (--features serde) on ubuntu-latest, "
        "through .github/workflows/checks.yml"
    )
