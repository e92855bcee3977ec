"""init reads the repository as it is: default branch, rust-version, the checks its own
workflows run, files of the user's own at buildkit's paths; and chooses from them."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from buildkit.existing_ci import cargo_check_kind, cargo_commands
from buildkit.survey import default_branch
from conftest import EXAMPLE, build_file_tree, run_buildkit

WORKFLOW = ".github/workflows/rust.yml"
GIT = ["git", "-c", "user.name=t", "-c", "user.email=t@localhost"]


def small_workspace(root: Path, *, rust_version: str | None = None) -> Path:
    """Two members, no dependencies (nothing to download)."""
    package = "rust-version.workspace = true\n" if rust_version else ""
    workspace_package = (
        f'[workspace.package]\nrust-version = "{rust_version}"\n' if rust_version else ""
    )
    build_file_tree(
        root,
        {
            "Cargo.toml": '[workspace]\nmembers = ["alpha", "beta"]\nresolver = "2"\n'
            + workspace_package,
            "alpha/Cargo.toml": '[package]\nname = "alpha"\nversion = "0.1.0"\nedition = "2021"\n'
            + package,
            "alpha/src/lib.rs": "pub fn one() -> i32 {\n    1\n}\n",
            "beta/Cargo.toml": '[package]\nname = "beta"\nversion = "0.1.0"\nedition = "2021"\n',
            "beta/src/lib.rs": "pub fn two() -> i32 {\n    2\n}\n",
        },
    )
    return root


def git(root: Path, *args: str) -> str:
    done = subprocess.run(
        [*GIT, "-C", str(root), *args], capture_output=True, text=True, check=True
    )
    return done.stdout


def commit_all(root: Path, branch: str = "main") -> None:
    git(root, "init", "-q", "-b", branch)
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "first")


def workflow_of(root: Path) -> dict[str, object]:
    data: dict[str, object] = yaml.safe_load((root / WORKFLOW).read_text())
    return data


def init(root: Path, *args: str) -> str:
    ran = run_buildkit("init", "--yes", "--no-clippy", *args, root)
    assert ran.exit_code == 0, ran.stdout + ran.stderr
    return ran.stdout


# -- reading shell scripts of existing workflows --------------------------------------------


@pytest.mark.parametrize(
    ("script", "kinds"),
    [
        ("cargo test --workspace", {"test"}),
        ("cargo +1.70 test", {"test"}),
        ("RUST_LOG=debug cargo nextest run --all-features", {"test"}),
        ("cargo hack --feature-powerset test", {"test"}),
        ("cargo llvm-cov --workspace --lcov", {"test"}),
        ("cargo build --tests && cargo clippy -- -D warnings", {"clippy"}),
        ("set -e\ncargo fmt --all -- --check\n", {"fmt"}),
        ("time ~/.cargo/bin/cargo t -p x", {"test"}),
        ("cargo build --release\ncargo doc", set()),
        ("echo cargo test", set()),
        ("cargo build --test integration", set()),
        ("cargo msrv verify", {"msrv"}),
    ],
)
def test_the_checks_a_run_script_performs(script: str, kinds: set[str]) -> None:
    assert {cargo_check_kind(c) for c in cargo_commands(script)} - {""} == kinds


# -- the default branch --------------------------------------------------------------------


def test_default_branch_is_the_current_branch_then_the_remote_head(tmp_path: Path) -> None:
    repo = small_workspace(tmp_path / "repo")
    commit_all(repo, "master")
    assert default_branch(repo) == ("master", "the current branch")
    git(repo, "checkout", "-q", "-b", "feature")
    git(repo, "config", "init.defaultBranch", "master")  # the repository has that branch
    assert default_branch(repo) == ("master", "init.defaultBranch")
    git(repo, "config", "init.defaultBranch", "nonesuch")  # it does not: not the answer
    assert default_branch(repo) == ("feature", "the current branch")
    clone = tmp_path / "clone"
    subprocess.run([*GIT, "clone", "-q", str(repo), str(clone)], check=True)
    git(clone, "checkout", "-q", "-b", "topic")
    # The clone's origin/HEAD is the branch checked out in the cloned repository.
    assert default_branch(clone) == ("feature", "origin/HEAD")
    assert default_branch(tmp_path) == ("main", "no git repository; the default")


def test_a_master_repository_gets_a_workflow_on_master(tmp_path: Path) -> None:
    repo = small_workspace(tmp_path / "repo")
    commit_all(repo, "master")
    out = init(repo)
    assert "found: default branch master (the current branch)" in out
    on = workflow_of(repo)[True]  # YAML 1.1 reads the key `on` as true
    assert on["push"]["branches"] == ["master"]  # type: ignore[index]
    assert yaml.safe_load((repo / "buildkit.yaml").read_text())["ci"]["branches"] == ["master"]


# -- existing workflows ---------------------------------------------------------------------


def test_an_existing_workflow_running_cargo_test_turns_the_test_job_off(tmp_path: Path) -> None:
    repo = small_workspace(tmp_path / "repo")
    build_file_tree(
        repo,
        {
            ".github/workflows/ci.yml": (
                "on: [push]\njobs:\n  tests:\n    strategy:\n      matrix:\n"
                "        os: [ubuntu-latest, windows-latest]\n    runs-on: ${{ matrix.os }}\n"
                "    steps:\n      - uses: actions/checkout@v4\n"
                "      - run: |\n          cargo build\n          cargo test --workspace\n"
            )
        },
    )
    commit_all(repo)
    out = init(repo)
    assert "found: .github/workflows/ci.yml runs tests on ubuntu-latest, windows-latest" in out
    assert (
        "chose: ci.test: false: .github/workflows/ci.yml already runs the tests; "
        "set ci.test: true to add buildkit's"
    ) in out
    jobs = workflow_of(repo)["jobs"]
    assert "test" not in jobs and "lint" in jobs  # type: ignore[operator]
    # The key named in the summary turns it on.
    profile = repo / "buildkit.yaml"
    profile.write_text(profile.read_text().replace("test: false", "test: true"))
    assert run_buildkit("render", repo).exit_code == 0
    assert "test" in workflow_of(repo)["jobs"]  # type: ignore[operator]


def test_workflows_running_everything_leave_buildkits_off(tmp_path: Path) -> None:
    repo = small_workspace(tmp_path / "repo", rust_version="1.70")
    build_file_tree(
        repo,
        {
            ".github/workflows/a.yaml": (
                "on: push\njobs:\n  lint:\n    runs-on: ubuntu-latest\n    steps:\n"
                "      - run: cargo fmt --check\n      - run: cargo clippy --workspace\n"
            ),
            ".github/workflows/b.yml": (
                "on: push\njobs:\n  test:\n    runs-on: ubuntu-latest\n    strategy:\n"
                "      matrix:\n        rust: ['1.70', stable]\n    steps:\n"
                "      - uses: dtolnay/rust-toolchain@master\n"
                "        with: {toolchain: '${{ matrix.rust }}'}\n"
                "      - run: cargo nextest run\n"
            ),
        },
    )
    out = init(repo, "--json")
    found = json.loads(out)["found"]
    assert {w["path"]: w["runs"] for w in found["workflows"]} == {
        ".github/workflows/a.yaml": ["clippy", "fmt"],
        ".github/workflows/b.yml": ["msrv", "test"],
    }
    ci = yaml.safe_load((repo / "buildkit.yaml").read_text())["ci"]
    assert ci["test"] is False and ci["fmt"] is False and ci["clippy"] is False
    assert "msrv" not in ci
    # Only the drift checks are left for buildkit's workflow: hakari's, and no `buildkit check`
    # job, as this buildkit is not published and was not installed from a pinned source.
    assert list(workflow_of(repo)["jobs"]) == ["hakari"]  # type: ignore[call-overload]
    summary = json.loads(out)["summary"]
    assert "chose: no `buildkit check` job: buildkit-rs" in "\n".join(summary)


def test_an_unreadable_workflow_is_reported_not_fatal(tmp_path: Path) -> None:
    repo = small_workspace(tmp_path / "repo")
    build_file_tree(repo, {".github/workflows/bad.yml": "jobs: [\n"})
    out = init(repo)
    assert "found: .github/workflows/bad.yml (not read: " in out


# -- files of the user's own at buildkit's paths --------------------------------------------


def test_a_users_scripts_cq_survives_and_buildkits_goes_next_to_it(tmp_path: Path) -> None:
    repo = small_workspace(tmp_path / "repo")
    mine = b'#!/bin/bash\n# my own cq\nexec cargo "$@"\n'
    build_file_tree(repo, {"scripts/cq": mine})
    (repo / "scripts/cq").chmod(0o750)
    out = init(repo)
    assert (repo / "scripts/cq").read_bytes() == mine
    assert stat.S_IMODE((repo / "scripts/cq").stat().st_mode) == 0o750
    assert "chose: cq.path: scripts/buildkit-cq: scripts/cq is a file of your own" in out
    assert "`scripts/buildkit-cq build`" in out
    ours = repo / "scripts/buildkit-cq"
    assert os.access(ours, os.X_OK)
    assert "generated by buildkit" in ours.read_text()
    assert "PATH_add scripts\n" in (repo / ".envrc").read_text()
    devcontainer = (repo / ".devcontainer/devcontainer.json").read_text()
    assert "/scripts" in devcontainer
    assert run_buildkit("check", repo).exit_code == 0
    # cq itself runs from there.
    status = subprocess.run([str(ours), "status"], cwd=repo, capture_output=True, text=True)
    assert status.returncode == 0, status.stderr


def test_cq_path_option_and_its_bad_values(tmp_path: Path) -> None:
    repo = small_workspace(tmp_path / "repo")
    assert "chose: cq.path: tools/q (--cq-path)" in init(repo, "--cq-path", "tools/q")
    assert os.access(repo / "tools/q", os.X_OK)
    assert "PATH_add tools\n" in (repo / ".envrc").read_text()
    again = run_buildkit("init", "--no-clippy", "--cq-path", "x/cq", repo)
    assert again.exit_code == 2 and "set cq.path there" in again.stderr
    other = small_workspace(tmp_path / "other")
    bad = run_buildkit("init", "--no-clippy", "--cq-path", "../cq", other)
    assert bad.exit_code == 2 and "inside the repository" in bad.stderr
    assert not (other / "buildkit.yaml").exists()


def test_a_users_file_appearing_later_is_a_conflict_with_its_own_message(
    tmp_path: Path,
) -> None:
    repo = small_workspace(tmp_path / "repo")
    init(repo)
    (repo / "scripts/cq").unlink()
    (repo / "scripts/cq").write_text("#!/bin/sh\necho mine\n")
    ran = run_buildkit("render", repo)
    assert ran.exit_code == 1
    line = ran.stderr.splitlines()[0]
    assert "scripts/cq: a file of your own is there (buildkit did not write it)" in line
    assert "`cq.path: scripts/buildkit-cq`" in line and "--force" in line
    assert "move your edits" not in ran.stderr
    assert (repo / "scripts/cq").read_text() == "#!/bin/sh\necho mine\n"


def test_a_user_workflow_at_buildkits_path_is_kept(tmp_path: Path) -> None:
    repo = small_workspace(tmp_path / "repo")
    theirs = "on: push\njobs:\n  x:\n    runs-on: ubuntu-latest\n    steps:\n      - run: make\n"
    build_file_tree(repo, {WORKFLOW: theirs})
    out = init(repo)
    assert (repo / WORKFLOW).read_text() == theirs
    assert "chose: ci.path: .github/workflows/buildkit-rust.yml" in out
    assert (repo / ".github/workflows/buildkit-rust.yml").is_file()


def test_a_workflow_with_every_job_off_is_refused_with_the_keys(tmp_path: Path) -> None:
    repo = small_workspace(tmp_path / "repo")
    (repo / "buildkit.yaml").write_text(
        "version: 1\nhakari: {enabled: false}\n"
        "ci: {test: false, fmt: false, clippy: false, buildkit_check: false}\n"
    )
    ran = run_buildkit("render", repo)
    assert ran.exit_code == 2
    assert "ci: every job is off" in ran.stderr and "ci.enabled: false" in ran.stderr
    assert not (repo / WORKFLOW).exists()


def test_a_devcontainer_of_the_users_own_gets_the_feature_instead(tmp_path: Path) -> None:
    repo = small_workspace(tmp_path / "repo")
    theirs = '{"image": "mcr.microsoft.com/devcontainers/rust:1"}\n'
    build_file_tree(repo, {".devcontainer/devcontainer.json": theirs})
    out = init(repo)
    assert "chose: devcontainer.enabled: false, devcontainer.feature: true" in out
    assert (repo / ".devcontainer/devcontainer.json").read_text() == theirs
    assert not (repo / ".devcontainer/Dockerfile").exists()
    assert (repo / ".devcontainer/buildkit-feature/devcontainer-feature.json").is_file()
    assert run_buildkit("check", repo).exit_code == 0


# -- property: run scripts assembled from commands ------------------------------------------

_KINDS = {
    "test": ["test", "t", "nextest run"],
    "clippy": ["clippy --workspace", "clippy -- -D warnings"],
    "fmt": ["fmt --all --check", "fmt -- --check"],
    "": ["build --tests", "doc --no-deps", "check --all-targets", "run --bin x -- test"],
}
_segment = st.one_of(
    st.tuples(
        st.sampled_from(sorted(_KINDS)).flatmap(
            lambda k: st.tuples(st.just(k), st.sampled_from(_KINDS[k]))
        ),
        st.sampled_from(["", "RUST_LOG=1 ", "time ", "env A=b "]),
        st.sampled_from(["", "+stable ", "+1.70 ", "--locked "]),
    ).map(lambda t: (t[0][0], f"{t[1]}cargo {t[2]}{t[0][1]}")),
    st.sampled_from(["echo cargo test", "make clippy", "ls", "printf 'cargo fmt'"]).map(
        lambda c: ("", c)
    ),
)


@settings(max_examples=200, deadline=None)
@given(
    segments=st.lists(_segment, min_size=1, max_size=5),
    separators=st.lists(st.sampled_from(["\n", " && ", "; ", " || ", " | "]), min_size=4),
)
def test_detected_checks_are_exactly_the_cargo_commands_of_a_script(
    segments: list[tuple[str, str]], separators: list[str]
) -> None:
    script = segments[0][1]
    for (_, command), separator in zip(segments[1:], separators, strict=False):
        script += separator + command
    found = {cargo_check_kind(c) for c in cargo_commands(script)} - {""}
    assert found == {kind for kind, _ in segments} - {""}, script


def test_no_msrv_job_when_cargo_at_the_msrv_cannot_read_the_lockfile(tmp_path: Path) -> None:
    # A lockfile in format 4 (written by a cargo newer than the MSRV; cargo reads it from 1.78 on).
    repo = small_workspace(tmp_path / "old", rust_version="1.70")
    subprocess.run(["cargo", "generate-lockfile"], cwd=repo, check=True, capture_output=True)
    lockfile = repo / "Cargo.lock"
    lockfile.write_text(lockfile.read_text().replace("\nversion = 3\n", "\nversion = 4\n"))
    assert "\nversion = 4\n" in lockfile.read_text()
    out = init(repo)
    assert "chose: no MSRV job: Cargo.lock is format 4, which cargo reads from 1.78 on" in out
    assert "msrv" not in workflow_of(repo)["jobs"]  # type: ignore[operator]
    # A rust-version that reads it gets the job.
    newer = small_workspace(tmp_path / "new", rust_version="1.80")
    subprocess.run(["cargo", "generate-lockfile"], cwd=newer, check=True, capture_output=True)
    assert "chose: ci.msrv: 1.80" in init(newer)


def test_a_workspace_in_a_subfolder_is_told_where_github_reads_workflows(tmp_path: Path) -> None:
    repo = tmp_path / "mono"
    workspace = repo / "rust"
    shutil.copytree(EXAMPLE, workspace)
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    ran = run_buildkit("init", "--no-clippy", workspace)
    assert ran.exit_code == 0, ran.stdout + ran.stderr
    assert "ci: this workspace is in rust/ of its git repository" in ran.stdout
    assert "working-directory: rust" in ran.stdout
