"""bench/article/run.py's report: the goal lines say met or missed, and by how much, for any
counts (Hypothesis), and table.md carries the floor and the alternate scenario."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

from hypothesis import given
from hypothesis import strategies as st

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


def side(rlib: int, floor: int, cpu: float, clippy: float, alt_cpu: float) -> dict[str, object]:
    return {
        "scenarios": ["matrix", "alternate"],
        "rlib": rlib,
        "rlib_floor": floor,
        "rlib_per_floor": round(rlib / floor, 2),
        "cpu_s": cpu,
        "runs": [
            {"cmd": "cargo clippy", "cpu_s": clippy},
            {"cmd": "cargo test", "cpu_s": round(cpu - clippy, 2)},
        ],
        "alternate": {"cpu_s": alt_cpu, "wall_s": alt_cpu},
        "worktrees": {"wt1": {"rlib_files": ["debug/deps/liba-1.rlib"] * rlib}},
    }


def verdict(got: float, goal: float) -> str:
    return "met" if got <= goal else f"missed by {got / goal:.2f}x"


@given(
    rlib=st.integers(1, 500),
    floor=st.integers(1, 200),
    cpu=st.floats(1, 500).map(lambda x: round(x, 1)),
    unsafe_cpu=st.floats(1, 500).map(lambda x: round(x, 1)),
    alt=st.floats(0.1, 50).map(lambda x: round(x, 1)),
    unsafe_alt=st.floats(0.1, 50).map(lambda x: round(x, 1)),
)
def test_goals_say_met_or_by_how_much_missed(
    rlib: int, floor: int, cpu: float, unsafe_cpu: float, alt: float, unsafe_alt: float
) -> None:
    shared = side(rlib, floor, cpu, 0.0, alt)
    unsafe = side(rlib, floor, unsafe_cpu, 0.0, unsafe_alt)
    lines = RUN.goals({"after-shared": shared, "unsafe-shared": unsafe})
    floor_line = next(g for g in lines if g.startswith("- after-shared `.rlib` / floor"))
    assert floor_line.endswith(f"= {rlib / floor:.2f} (goal <= 1.3: {verdict(rlib / floor, 1.3)})")
    matrix = next(g for g in lines if g.startswith("- matrix: "))
    assert matrix.endswith(f"(goal <= 1.2: {verdict(cpu / unsafe_cpu, 1.2)})")
    alternate = next(g for g in lines if g.startswith("- alternate: "))
    assert alternate.endswith(
        f"= {alt / unsafe_alt:.2f} (goal <= 1.2: {verdict(alt / unsafe_alt, 1.2)})"
    )


def test_the_table_has_the_floor_clippy_and_the_alternate_scenario(tmp_path: Path) -> None:
    sides = {
        "before": side(250, 46, 210.0, 1.3, 4.2),
        "after-shared": side(85, 47, 114.4, 55.4, 13.6),
        "unsafe-shared": side(70, 47, 56.5, 1.3, 12.7),
    }
    for name, data in sides.items():
        data["copies_max_per_worktree"] = {}
        data.update(incremental_dirs=0, incremental_dirs_from_oneshot=0, bytes=0, wall_s=1.0)
        (tmp_path / f"{name}.json").write_text(json.dumps(data))
    RUN.report(tmp_path)
    table = (tmp_path / "table.md").read_text()
    assert "| `.rlib` files / floor | 5.43 | 1.81 | 1.49 | 0.33 | 0.27 |" in table
    assert "| CPU seconds of `cargo clippy` alone | 1.3 | 55.4 | 1.3 |" in table
    assert "| alternate worktrees (edit + `cargo test`): CPU seconds | 4.2 | 13.6 | 12.7 |" in table
    assert (
        "- matrix: after-shared CPU / unsafe-shared CPU: 114.4 / 56.5 = 2.02 "
        "(goal <= 1.2: missed by 1.69x)" in table
    )
    assert (
        "- matrix without clippy: after-shared CPU / unsafe-shared CPU: 59.0 / 55.2 = 1.07" in table
    )
    assert json.loads((tmp_path / "result.json").read_text())["goals"][0].startswith(
        "- after-shared `.rlib` / floor: 85 / 47 = 1.81"
    )
