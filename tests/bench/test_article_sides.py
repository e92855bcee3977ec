"""bench/article/run.py's sides and scenarios run to completion on the example workspace (path
dependencies only, no crates.io), with real cargo, cargo-hakari, the rendered cq, rustc wrapper
and sccache; a side that fails is recorded and the run goes on; the report carries the `.rlib`
floor and the default side's goals."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from bench.bench_helpers import run_article

SIDES = ("before", "kache", "after", "unsafe-shared")


@pytest.mark.slow
def test_every_side_and_scenario_report_and_a_failing_side_is_recorded(
    example: Path, tmp_path: Path
) -> None:
    ran = run_article(
        example,
        "--sides",
        ",".join(SIDES),
        "--worktrees",
        "2",
        "--max-commands",
        "3",
        "--scenario",
        "all",
        # kache cannot run here: the side fails, is recorded, and the run goes on
        "--kache",
        str(tmp_path / "no-kache"),
        tmp_path=tmp_path,
        timeout=1500,
    )
    out, kept = ran.results, ran.kept
    results = {s: json.loads((out / f"{s}.json").read_text()) for s in SIDES}
    assert "failed" in results["kache"] and "no-kache" in results["kache"]["failed"]
    ok = {s: r for s, r in results.items() if s != "kache"}
    # The floor from the unit graph: greet and tinyhash (debug; build and test share the dev
    # profile's units), plus the workspace-hack that buildkit init adds.
    assert results["before"]["rlib_floor"] == 2
    assert results["after"]["rlib_floor"] == results["unsafe-shared"]["rlib_floor"] == 3
    for name, result in ok.items():
        assert "failed" not in result, (name, result.get("failed"))
        assert result["rlib"] > 0, name
        # one du over target dirs and store: a file hard-linked into several counts once
        assert result["disk_bytes"] >= result["cache_bytes"] and result["disk_bytes"] > 0, name
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
        # a new worktree's first `cargo test`, against the cold one
        fresh = result["fresh"]
        assert fresh["cold"]["cmd"] == fresh["new"]["cmd"] == "cargo test"
        assert fresh["wall_ratio"] == round(fresh["new"]["wall_s"] / fresh["cold"]["wall_s"], 2)
    # The edits landed in each worktree's own sources, as an agent's would.
    for side in ok:
        greet = (kept / side / "wt1" / "crates/greet/src/lib.rs").read_text()
        hello = (kept / side / "wt2" / "crates/hello/src/main.rs").read_text()
        assert "BENCH_EDIT_0" in greet and "BENCH_EDIT_2" in greet, side
        assert "BENCH_EDIT_1" in hello and "BENCH_EDIT_3" in hello, side
    # buildkit's default side: each worktree compiles in its own target/ (isolation), through
    # the rendered wrapper, with a cache of the side's own
    after = results["after"]["worktrees"]
    for name in ("wt1", "wt2"):
        assert any("deps/" in f for f in after[name]["rlib_files"]), name
    config = (kept / "after" / "wt1" / ".cargo" / "config.toml").read_text()
    assert 'rustc-wrapper = ".config/buildkit/bin/rustc-wrapper"' in config
    # the unsafe side compiles into one build-dir: no worktree's target/ compiles a library
    trees = results["unsafe-shared"]["worktrees"]
    assert any("/deps/" in f"/{f}" for f in trees["shared-build-dir"]["rlib_files"])
    for name in ("wt1", "wt2"):
        assert not [f for f in trees[name]["rlib_files"] if "deps/" in f], name
    # The report: every side (the failed one as a row), the scenarios and the goals.
    table = (out / "table.md").read_text()
    assert table.startswith("| measure | before | after | kache | unsafe-shared |")
    assert "| side ran | ok | ok | failed: " in table
    assert "| fresh: new / cold, wall |" in table
    assert "| target dirs + cache store, MB (one `du`, hard links once) |" in table
    goals = json.loads((out / "result.json").read_text())["goals"]
    assert goals and goals == [line for line in table.splitlines() if line.startswith("- ")]
    assert any(g.startswith("- alternate: after / before CPU") for g in goals)
    assert any(g.startswith("- matrix: after / before disk") for g in goals)
    assert any(g.startswith("- fresh: ") for g in goals)
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
    # each worktree's own target/), against the floor of
    # `cargo test` alone.
    assert result["rlib"] > 0 and result["rlib_floor"] == 3
    for tree in ("wt1", "wt2"):
        assert any(f.startswith("debug/deps/") for f in result["worktrees"][tree]["rlib_files"])
    table = (out / "table.md").read_text()
    assert "| alternate worktrees (edit + `cargo test`): CPU seconds |" in table
    assert "`.rlib` files / floor" not in table  # no matrix, no matrix counts
    shutil.rmtree(kept)
