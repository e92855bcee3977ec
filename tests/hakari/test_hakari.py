"""cargo-hakari set up by buildkit and verified with the real `cargo hakari`."""

from __future__ import annotations

import re
import subprocess
import tomllib
from pathlib import Path

import pytest

from buildkit.errors import EnvironmentProblem
from buildkit.pins import pinned_tool
from buildkit.project import run_init
from buildkit.render.hakari import INSTALL_SHOWN
from buildkit.render.ownership import is_pristine
from buildkit.render.steps import StepContext
from conftest import build_file_tree, run_buildkit
from hakari.hakari_helpers import cargo_only

MEMBERS = ("app-cli", "app-core", "app-db", "app-search", "app-server")


def hakari(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["cargo", "hakari", *args], cwd=root, capture_output=True, text=True, check=False
    )


def snapshot(root: Path) -> dict[str, tuple[int, bytes]]:
    """Every file outside target/ with its mtime and content: a rewrite shows up here."""
    found = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if path.is_file() and rel.parts[0] != "target":
            found[str(rel)] = (path.stat().st_mtime_ns, path.read_bytes())
    return found


def member_deps(root: Path, member: str) -> dict[str, object]:
    with (root / "crates" / member / "Cargo.toml").open("rb") as handle:
        deps: dict[str, object] = tomllib.load(handle).get("dependencies", {})
    return deps


@pytest.fixture
def initialised(seedlike: Path) -> Path:
    ran = run_buildkit("init", "--yes", seedlike)
    assert ran.exit_code == 0, ran.stderr
    return seedlike


def test_init_sets_up_a_verified_workspace_hack(initialised: Path) -> None:
    root = initialised
    verify = hakari(root, "verify")
    assert verify.returncode == 0, verify.stdout + verify.stderr
    for member in MEMBERS:
        assert "workspace-hack" in member_deps(root, member), member
    hack = (root / "workspace-hack" / "Cargo.toml").read_text()
    assert 'name = "workspace-hack"' in hack
    assert "hashbrown" in hack.split("### BEGIN HAKARI SECTION")[1]
    # cargo hakari init must not have replaced buildkit's own config file.
    config = (root / ".config" / "hakari.toml").read_text()
    assert is_pristine(config, "#")
    assert "/workspace-hack/Cargo.toml merge=binary -crlf" in (root / ".gitattributes").read_text()
    # The workspace-hack is hakari's output, not a workspace fact of buildkit.yaml.
    assert "name: workspace-hack" not in (root / "buildkit.yaml").read_text()
    ran = run_buildkit("check", root)
    assert ran.exit_code == 0, ran.stdout + ran.stderr
    assert "hakari verified" in ran.stdout


def test_cargo_test_skips_the_workspace_hack_which_has_nothing_to_test(initialised: Path) -> None:
    """Its [lib] settings, which cargo reads: no test binary, no doctest run, every turn."""
    with (initialised / "workspace-hack" / "Cargo.toml").open("rb") as handle:
        lib = tomllib.load(handle)["lib"]
    assert lib == {"test": False, "doctest": False, "bench": False}
    ran = subprocess.run(
        ["cargo", "test", "-p", "workspace-hack", "-p", "app-core"],
        cwd=initialised,
        capture_output=True,
        text=True,
        check=False,
    )
    assert ran.returncode == 0, ran.stderr
    assert "Doc-tests app_core" in ran.stderr, "the control: app-core's doctests run"
    assert "workspace_hack" not in ran.stderr, ran.stderr


def test_rerunning_render_rewrites_nothing(initialised: Path) -> None:
    before = snapshot(initialised)
    ran = run_buildkit("render", initialised)
    assert ran.exit_code == 0, ran.stderr
    assert "up to date" in ran.stdout
    assert snapshot(initialised) == before


def test_check_names_hakari_when_a_member_lost_the_dependency(initialised: Path) -> None:
    manifest = initialised / "crates" / "app-db" / "Cargo.toml"
    lines = manifest.read_text().splitlines(keepends=True)
    manifest.write_text("".join(line for line in lines if not line.startswith("workspace-hack")))
    ran = run_buildkit("check", initialised)
    assert ran.exit_code == 1
    assert "hakari: members' workspace-hack dependencies are out of date" in ran.stderr
    assert run_buildkit("render", initialised).exit_code == 0
    assert "workspace-hack" in member_deps(initialised, "app-db")
    assert run_buildkit("check", initialised).exit_code == 0


def test_check_names_generate_diff_when_the_hack_is_stale(initialised: Path) -> None:
    hack = initialised / "workspace-hack" / "Cargo.toml"
    text = hack.read_text()
    hack.write_text("\n".join(ln for ln in text.splitlines() if not ln.startswith("sha2")) + "\n")
    ran = run_buildkit("check", initialised)
    assert ran.exit_code == 1
    assert "hakari: workspace-hack/Cargo.toml is out of date" in ran.stderr


def test_check_tells_a_hakari_error_from_pending_changes(initialised: Path) -> None:
    # cargo-hakari exits 1 both when a dry run has changes and on an error: a config it cannot
    # read is a failure, not an out-of-date workspace-hack that `buildkit render` would fix
    config = initialised / ".config" / "hakari.toml"
    config.write_text(config.read_text() + "resolver = [\n")
    ran = run_buildkit("check", initialised)
    assert ran.exit_code == 1
    assert "hakari: cargo hakari generate --diff failed (exit 1)" in ran.stderr
    assert "out of date" not in ran.stderr


def test_a_new_dependency_updates_the_workspace_hack(initialised: Path) -> None:
    root = initialised
    hack = root / "workspace-hack" / "Cargo.toml"
    assert "getrandom" not in hack.read_text()
    # app-db builds getrandom with `std`; app-search, built alone, now wants it without.
    manifest = root / "crates" / "app-search" / "Cargo.toml"
    text = manifest.read_text().replace("[dependencies]\n", '[dependencies]\ngetrandom = "0.2"\n')
    manifest.write_text(text)
    assert run_buildkit("check", root).exit_code == 1
    ran = run_buildkit("render", root)
    assert ran.exit_code == 0, ran.stderr
    assert "regenerated workspace-hack/Cargo.toml" in ran.stdout
    assert "getrandom" in hack.read_text()
    assert hakari(root, "verify").returncode == 0
    assert run_buildkit("check", root).exit_code == 0


def test_dry_run_lists_the_steps_and_writes_nothing(seedlike: Path) -> None:
    before = snapshot(seedlike)
    ran = run_buildkit("init", "--dry-run", seedlike)
    assert ran.exit_code == 0, ran.stderr
    assert "would run: hakari: cargo hakari init workspace-hack" in ran.stdout
    assert "would run: hakari: cargo hakari manage-deps" in ran.stdout
    assert snapshot(seedlike) == before


def test_a_single_package_gets_no_workspace_hack(tmp_path: Path) -> None:
    root = build_file_tree(
        tmp_path / "solo",
        {
            "Cargo.toml": '[package]\nname = "solo"\nversion = "0.1.0"\nedition = "2021"\n',
            "src/lib.rs": "",
        },
    )
    ran = run_buildkit("init", "--yes", root)
    assert ran.exit_code == 0, ran.stderr
    assert "hakari: off, a single package" in ran.stdout
    assert not (root / "workspace-hack").exists()
    assert not (root / ".config" / "hakari.toml").exists()
    assert run_buildkit("check", root).exit_code == 0


@pytest.fixture
def no_hakari(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """cargo and rustc on PATH, an empty CARGO_HOME without cargo-hakari, and no network."""
    cargo_only(tmp_path, monkeypatch, "empty-cargo-home")
    return tmp_path


def test_a_failed_install_leaves_the_repository_untouched(no_hakari: Path, seedlike: Path) -> None:
    before = snapshot(seedlike)
    ran = run_buildkit("init", "--yes", seedlike)
    assert ran.exit_code == 2
    assert f"{INSTALL_SHOWN}` failed" in ran.stderr
    assert "nothing was written" in ran.stderr
    assert snapshot(seedlike) == before


def test_without_yes_and_a_terminal_it_says_how_to_install(no_hakari: Path, seedlike: Path) -> None:
    before = snapshot(seedlike)
    ran = run_buildkit("init", seedlike)
    assert ran.exit_code == 2
    assert f"pass --yes to install it with `{INSTALL_SHOWN}`" in ran.stderr
    assert INSTALL_SHOWN.endswith(f"cargo-hakari@{pinned_tool('cargo-hakari')}")  # pinned, as CI
    assert snapshot(seedlike) == before


def test_declining_the_install_question_writes_nothing(no_hakari: Path, seedlike: Path) -> None:
    asked = []

    def decline(question: str) -> bool:
        asked.append(question)
        return False

    before = snapshot(seedlike)
    with pytest.raises(EnvironmentProblem, match=re.escape(f"run `{INSTALL_SHOWN}`")):
        run_init(seedlike, ctx=StepContext(confirm=decline))
    assert asked and INSTALL_SHOWN in asked[0]
    assert snapshot(seedlike) == before


def test_a_hakari_failure_names_its_cause_not_its_backtrace_hint() -> None:
    from buildkit.render.hakari import _cause

    eyre = (
        "Error: \n   0: package name workspace-hack already exists\n\nLocation:\n   src/x.rs:1\n\n"
        "Run with RUST_BACKTRACE=full to include source snippets.\n"
    )
    assert _cause(eyre) == "package name workspace-hack already exists"
    assert _cause("error: unknown package\nRun with RUST_BACKTRACE=full\n") == (
        "error: unknown package"
    )
    assert _cause("") == "no output"


def test_check_says_the_crate_is_missing_as_the_docs_quote_it(example: Path) -> None:
    """hakari turned on, not yet rendered: the line docs/hakari.md's table quotes."""
    (example / "buildkit.yaml").write_text("version: 1\nhakari:\n  enabled: false\n")
    assert run_buildkit("init", example).exit_code == 0
    (example / "buildkit.yaml").write_text("version: 1\nhakari:\n  enabled: true\n")
    ran = run_buildkit("check", example)
    assert ran.exit_code == 1
    assert "drift: hakari: workspace-hack/Cargo.toml is missing\n" in ran.stderr, ran.stderr
    docs = (Path(__file__).resolve().parents[2] / "docs" / "hakari.md").read_text()
    assert "| `drift: hakari: workspace-hack/Cargo.toml is missing` |" in docs
