"""bench/article/run.py on a workspace of its own shape (no `app-server`, no `codegen`): the
matrix comes from cargo metadata, results go outside the repository, the copy keeps its files."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from bench.bench_helpers import bench_env, run_article
from conftest import REPO, build_file_tree

GITIGNORE = "# the user's own\n/target\n*.local\n"


def workspace(root: Path) -> Path:
    return build_file_tree(
        root,
        {
            "Cargo.toml": '[workspace]\nmembers = ["core", "tool"]\ndefault-members = ["tool"]\n'
            'resolver = "2"\n',
            ".gitignore": GITIGNORE,
            "core/Cargo.toml": '[package]\nname = "core-lib"\nversion = "0.1.0"\nedition = "2021"\n'
            "[features]\nfast = []\nslow = []\n",
            "core/src/lib.rs": "pub fn answer() -> u32 {\n    40 + 2\n}\n",
            "tool/Cargo.toml": '[package]\nname = "tool"\nversion = "0.1.0"\nedition = "2021"\n'
            '[features]\ndefault = ["color"]\ncolor = []\ntrace = []\n'
            '[dependencies]\ncore-lib = { path = "../core" }\n',
            "tool/src/main.rs": 'fn main() {\n    println!("{}", core_lib::answer());\n}\n',
            # An integration test that runs the binary, as real workspaces' tests do.
            "tool/tests/cli.rs": (
                "#[test]\nfn prints_the_answer() {\n"
                '    let out = std::process::Command::new(env!("CARGO_BIN_EXE_tool"))'
                ".output().unwrap();\n"
                '    assert_eq!(String::from_utf8(out.stdout).unwrap(), "42\\n");\n}\n'
            ),
        },
    )


def snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


@pytest.mark.slow
def test_the_article_bench_runs_on_any_workspace(tmp_path: Path) -> None:
    source = workspace(tmp_path / "ws")
    before = snapshot(source)
    env = bench_env(tmp_path)
    assert shutil.which("buildkit", path=env["PATH"]), "the buildkit on PATH is the one used"
    ran = run_article(
        source,
        "--sides",
        "before,after",
        "--worktrees",
        "1",
        "--max-commands",
        "7",
        tmp_path=tmp_path,
        timeout=1200,
    )
    out, kept = ran.results, ran.kept
    # Results outside the repository, and the committed results untouched.
    assert not out.resolve().is_relative_to(REPO) and out.is_relative_to(tmp_path)
    assert (out / "table.md").read_text().startswith("| measure | before | after |")
    # The matrix: the workspace's own (default member tool; core-lib's first feature, fast;
    # tool's first feature that its default leaves off, trace).
    expected = [
        "cargo check",
        "cargo clippy",
        "cargo build",
        "cargo test",
        "cargo build -p core-lib --features fast",
        "cargo test -p core-lib --features fast",
        "cargo build -p tool --features trace",
    ]
    for side in ("before", "after"):
        result = json.loads((out / f"{side}.json").read_text())
        assert result["matrix"] == expected
        assert [r["cmd"] for r in result["runs"]] == expected
    # The copy keeps the workspace's files as they are (its .gitignore too); the source is
    # never touched.
    assert (kept / "before" / "wt1" / ".gitignore").read_text() == GITIGNORE
    assert (kept / "after" / "wt1" / ".gitignore").read_text() == GITIGNORE
    assert (kept / "after" / "wt1" / "buildkit.yaml").is_file()
    assert snapshot(source) == before
    shutil.rmtree(kept)
