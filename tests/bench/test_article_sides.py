"""bench/article/run.py's unsafe-shared side and alternate-worktrees scenario run to completion
on the example workspace (path dependencies only, no crates.io), with real cargo, cargo-hakari
and the rendered cq, and the report carries the `.rlib` floor and the shared side's goals."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from bench.bench_helpers import run_article

SIDES = ("before", "after-shared", "unsafe-shared")


@pytest.mark.slow
def test_unsafe_shared_and_alternate_worktrees_report_the_floor(
    example: Path, tmp_path: Path
) -> None:
    ran = run_article(
        example,
        "--sides",
        ",".join(SIDES),
        "--worktrees",
        "2",
        "--max-commands",
        "4",
        "--scenario",
        "both",
        tmp_path=tmp_path,
    )
    out, kept = ran.results, ran.kept
    results = {s: json.loads((out / f"{s}.json").read_text()) for s in SIDES}
    # The floor from the unit graph: greet and tinyhash (debug; build and test share the dev
    # profile's units), plus the workspace-hack that buildkit init adds.
    assert results["before"]["rlib_floor"] == 2
    assert results["after-shared"]["rlib_floor"] == results["unsafe-shared"]["rlib_floor"] == 3
    for side, result in results.items():
        assert result["rlib"] > 0, side
        assert result["rlib_per_floor"] == round(result["rlib"] / result["rlib_floor"], 2)
        # Agents alternate worktrees: wt1, wt2, wt1, wt2, each editing the next member.
        alternate = result["alternate"]
        assert alternate["warm"] is True
        assert [(r["worktree"], r["cmd"]) for r in alternate["runs"]] == [
            ("wt1", "cargo test"),
            ("wt2", "cargo test"),
        ] * 2
        assert [r["edited"] for r in alternate["runs"]] == [
            "crates/greet/src/lib.rs",
            "crates/hello/src/main.rs",
        ] * 2
        assert alternate["cpu_s"] == round(sum(r["cpu_s"] for r in alternate["runs"]), 1)
    # The edits landed in each worktree's own sources, as an agent's would.
    for side in SIDES:
        greet = (kept / side / "wt1" / "crates/greet/src/lib.rs").read_text()
        hello = (kept / side / "wt2" / "crates/hello/src/main.rs").read_text()
        assert "BENCH_EDIT_0" in greet and "BENCH_EDIT_2" in greet, side
        assert "BENCH_EDIT_1" in hello and "BENCH_EDIT_3" in hello, side
    # Both shared sides compile into one build-dir: no worktree's target/ compiles a library.
    for side, shared in (("after-shared", "build-dir"), ("unsafe-shared", "shared-build-dir")):
        trees = results[side]["worktrees"]
        assert any("/deps/" in f"/{f}" for f in trees[shared]["rlib_files"]), side
        for name in ("wt1", "wt2"):
            assert not [f for f in trees[name]["rlib_files"] if "deps/" in f], (side, name)
    # The unsafe side is the old behaviour: cq does not share, the environment does.
    profile = (kept / "unsafe-shared" / "wt1" / "buildkit.yaml").read_text()
    assert "shared_target_dir: false" in profile
    assert not (kept / "unsafe-shared" / "wt1" / ".git" / "buildkit" / "build-dir").exists()
    # The report: the floor rows and the goals, with their ratios.
    table = (out / "table.md").read_text()
    assert table.startswith("| measure | before | after-shared | unsafe-shared |")
    assert "| `.rlib` files / floor |" in table
    assert "| alternate worktrees (edit + `cargo test`): CPU seconds |" in table
    goals = json.loads((out / "result.json").read_text())["goals"]
    assert goals and goals == [line for line in table.splitlines() if line.startswith("- ")]
    floor_goal = next(g for g in goals if g.startswith("- after-shared `.rlib` / floor"))
    expected = results["after-shared"]["rlib"] / 3
    assert f"= {expected:.2f} (goal <= 1.3: " in floor_goal
    assert any(g.startswith("- alternate: after-shared CPU / unsafe-shared CPU") for g in goals)
    assert any(g.startswith("- matrix: after-shared CPU / unsafe-shared CPU") for g in goals)
    assert any(g.startswith("- matrix without clippy: after-shared CPU / unsafe") for g in goals)
    assert "| CPU seconds of `cargo clippy` alone |" in table
    compiled = sum(
        f.startswith("debug/deps/")
        for tree in results["after-shared"]["worktrees"].values()
        for f in tree["rlib_files"]
    )
    assert f"- after-shared compiled `.rlib` (in `deps/`) / floor: {compiled} / 3 = " in table
    shutil.rmtree(kept)


@pytest.mark.slow
def test_the_alternate_scenario_alone_starts_cold(example: Path, tmp_path: Path) -> None:
    out = tmp_path / "results"
    args = ["--sides", "after", "--worktrees", "2", "--scenario", "alternate", "--rounds", "1"]
    kept = run_article(example, *args, "--out", str(out), tmp_path=tmp_path).kept
    result = json.loads((out / "after.json").read_text())
    assert result["runs"] == [] and result["scenarios"] == ["alternate"]
    assert result["alternate"]["warm"] is False
    assert [r["worktree"] for r in result["alternate"]["runs"]] == ["wt1", "wt2"]
    # Counted after the alternate scenario (cargo test builds greet and the workspace-hack in
    # each worktree's own target/: the after side does not share), against the floor of
    # `cargo test` alone.
    assert result["rlib"] > 0 and result["rlib_floor"] == 3
    assert "shared_target_dir: false" in (kept / "after" / "wt1" / "buildkit.yaml").read_text()
    for tree in ("wt1", "wt2"):
        assert any(f.startswith("debug/deps/") for f in result["worktrees"][tree]["rlib_files"])
    table = (out / "table.md").read_text()
    assert "| alternate worktrees (edit + `cargo test`): CPU seconds |" in table
    assert "`.rlib` files / floor" not in table  # no matrix, no matrix counts
    shutil.rmtree(kept)
