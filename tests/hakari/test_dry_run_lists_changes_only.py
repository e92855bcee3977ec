"""`render --dry-run` lists a hakari step only when the real `cargo hakari` says it would change
something, and `check` counts only the artifacts that are on."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import build_file_tree, run_buildkit


def two_members(root: Path) -> Path:
    return build_file_tree(
        root,
        {
            "Cargo.toml": '[workspace]\nmembers = ["alpha", "beta"]\nresolver = "2"\n',
            "alpha/Cargo.toml": '[package]\nname = "alpha"\nversion = "0.1.0"\nedition = "2021"\n',
            "alpha/src/lib.rs": "",
            "beta/Cargo.toml": '[package]\nname = "beta"\nversion = "0.1.0"\nedition = "2021"\n'
            '[dependencies]\nalpha = { path = "../alpha" }\n',
            "beta/src/lib.rs": "",
        },
    )


def files_on_disk(root: Path, paths: list[str]) -> list[str]:
    return [p for p in paths if (root / p).is_file()]


def test_dry_run_after_init_lists_nothing_and_check_counts_what_is_on(tmp_path: Path) -> None:
    root = two_members(tmp_path / "ws")
    ran = run_buildkit("init", "--yes", "--no-clippy", root)
    assert ran.exit_code == 0, ran.stdout + ran.stderr
    dry = run_buildkit("render", "--dry-run", root)
    assert dry.exit_code == 0, dry.stderr
    assert "would" not in dry.stdout, dry.stdout
    assert dry.stdout.startswith("up to date: ")

    report = json.loads(run_buildkit("check", "--json", root).stdout)
    listed = [a["path"] for a in report["artifacts"]]
    # Every listed artifact exists (the devcontainer Feature is off: its files are not listed).
    assert listed and files_on_disk(root, listed) == listed
    assert not any("feature" in p for p in listed)
    ok = run_buildkit("check", root).stdout
    assert ok.startswith(f"ok: {len(listed)} artifact(s) match buildkit.yaml")

    # A member that loses its workspace-hack dependency: generate has nothing to do, but
    # manage-deps does, and only that is listed.
    manifest = root / "alpha" / "Cargo.toml"
    text = manifest.read_text()
    kept = [line for line in text.splitlines(keepends=True) if "workspace-hack" not in line]
    manifest.write_text("".join(kept))
    dry = run_buildkit("render", "--dry-run", root)
    assert "would run: hakari: cargo hakari manage-deps" in dry.stdout
    assert "cargo hakari generate" not in dry.stdout
    assert manifest.read_text() == "".join(kept)

    # A profile change to the hakari config: the steps are listed as what follows it.
    profile = root / "buildkit.yaml"
    profile.write_text(profile.read_text().replace("  resolver: '2'\n", "  resolver: '3'\n"))
    dry = run_buildkit("render", "--dry-run", root)
    assert "would update: .config/hakari.toml (owned)" in dry.stdout
    assert "would run: hakari: cargo hakari generate" in dry.stdout
