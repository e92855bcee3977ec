"""bench/article/run.py's report: the goal lines say met or missed, and by how much (fixed
cases worked out by hand), and table.md carries every side, a failed one as a row."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

from conftest import REPO

ARTICLE = REPO / "bench" / "article"


def load_run() -> ModuleType:
    sys.path.insert(0, str(ARTICLE))  # run.py imports floor.py from its own directory
    try:
        spec = importlib.util.spec_from_file_location("article_run", ARTICLE / "run.py")
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    finally:
        sys.path.remove(str(ARTICLE))


RUN = load_run()


def side(
    cpu: float, disk_mb: int, unique_rlibs: int, alt_cpu: float, alt_wall: float
) -> dict[str, object]:
    return {
        "scenarios": ["matrix", "alternate"],
        "rlib": unique_rlibs,
        "rlib_floor": 40,
        "rlib_per_floor": round(unique_rlibs / 40, 2),
        "compiled_rlib_unique": unique_rlibs,
        "cpu_s": cpu,
        "wall_s": cpu,
        "bytes": disk_mb * 10**6,
        "disk_bytes": disk_mb * 10**6,
        "cache_bytes": 0,
        "runs": [
            {"cmd": "cargo clippy", "cpu_s": 1.0, "cache_daemon_cpu_s": 0.5},
            {"cmd": "cargo test", "cpu_s": round(cpu - 1.0, 2), "cache_daemon_cpu_s": 2.0},
        ],
        "alternate": {"cpu_s": alt_cpu, "wall_s": alt_wall},
        "worktrees": {"wt1": {"rlib_files": ["debug/deps/liba-1.rlib"] * unique_rlibs}},
        "copies_max_per_worktree": {},
        "incremental_dirs": 0,
        "incremental_dirs_from_oneshot": 0,
    }


def test_goals_met_read_met() -> None:
    lines = RUN.goals(
        {"before": side(200.0, 2000, 240, 3.8, 5.8), "after": side(80.0, 600, 50, 3.5, 5.0)}
    )
    assert lines == [
        "- alternate: after / before CPU: 3.5 / 3.8 = 0.92 (goal <= 1.0: met)",
        "- alternate: after / before WALL: 5.0 / 5.8 = 0.86 (goal <= 1.0: met)",
        "- matrix: after / before CPU: 80.0 / 200.0 = 0.40 (goal <= 0.45: met)",
        "- matrix: after / before disk (target dirs + cache, du, hard links once): 600 / 2000 MB"
        " = 0.30 (goal <= 0.35: met)",
        "- matrix: after compiled `.rlib` on disk (hard links once) / floor: 50 / 40 = 1.25 "
        "(goal <= 1.3: met)",
    ]


def test_goals_missed_say_by_how_much() -> None:
    after = side(120.0, 1400, 120, 5.0, 5.2)
    after["scenarios"] = ["fresh", "matrix", "alternate"]
    after["fresh"] = {"cold": {"wall_s": 40.0}, "new": {"wall_s": 20.0}, "wall_ratio": 0.5}
    lines = RUN.goals({"before": side(200.0, 2000, 240, 3.8, 5.8), "after": after})
    assert "- alternate: after / before CPU: 5.0 / 3.8 = 1.32 (goal <= 1.0: missed by 1.32x)" in (
        lines
    )
    assert "- matrix: after / before CPU: 120.0 / 200.0 = 0.60 (goal <= 0.45: missed by 1.33x)" in (
        lines
    )
    assert any(line.endswith("= 0.70 (goal <= 0.35: missed by 2.00x)") for line in lines)
    assert any(line.endswith("120 / 40 = 3.00 (goal <= 1.3: missed by 2.31x)") for line in lines)
    assert lines[-1] == (
        "- fresh: a new worktree's first `cargo test`, cache warm from a sibling / the cold one:"
        " 20.0 / 40.0 s wall = 0.50 (goal <= 0.3: missed by 1.67x)"
    )


def test_a_failed_side_is_a_row_not_the_end_of_the_report(tmp_path: Path) -> None:
    sides = {
        "before": side(200.0, 2000, 240, 3.8, 5.8),
        "after": side(80.0, 600, 50, 3.5, 5.0),
        "unsafe-shared": {"scenarios": ["matrix", "alternate"], "failed": "cargo test failed"},
    }
    for name, data in sides.items():
        (tmp_path / f"{name}.json").write_text(json.dumps(data))
    RUN.report(tmp_path)
    table = (tmp_path / "table.md").read_text()
    assert table.startswith("| measure | before | after | unsafe-shared |")
    assert "| side ran | ok | ok | failed: cargo test failed |" in table
    assert (
        "| CPU seconds (user+sys: wait4, plus the cache's server or daemon) | 200.0 | 80.0 | - |"
        in (table)
    )
    assert "| of which the cache's server or daemon | 2.5 | 2.5 | - |" in table
    assert "| alternate worktrees (edit + `cargo test`): CPU seconds | 3.8 | 3.5 | - |" in table
    goals = json.loads((tmp_path / "result.json").read_text())["goals"]
    assert goals[0] == "- alternate: after / before CPU: 3.5 / 3.8 = 0.92 (goal <= 1.0: met)"
