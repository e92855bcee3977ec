"""A quick check is never stuck behind a long test run, and cq status shows who holds and waits.

Three worktrees-to-be (copies of one rendered crate) share a budget of two slots, one of them
kept for compiles (`admission.compile_only_slots: 1`). A's test binary runs until the test lets
it go, holding the one slot tests may take; B's test binary then waits for it; meanwhile a
`cargo check` in C compiles and finishes. `cq status` (text and --json) names A's holder and
B's waiter with their worktrees and commands.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from admission.admission_helpers import (
    Holder,
    admission_dir,
    build_env,
    make_home,
    rendered_crate,
    wait_for,
)

GATED_LIB = """pub fn answer() -> u32 {
    42
}

#[test]
fn waits_for_the_gate() {
    let gate = std::env::var("GATE").unwrap();
    while !std::path::Path::new(&gate).exists() {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}
"""


def records(home: Path, pattern: str) -> list[dict[str, str]]:
    found = []
    for path in admission_dir(home).glob(pattern):
        try:
            text = path.read_text()
        except OSError:
            continue
        found.append(dict(line.split("=", 1) for line in text.splitlines() if "=" in line))
    return found


@pytest.mark.parametrize("holder", ["compiled", "perl"])
def test_check_runs_while_tests_hold_and_wait_and_cq_status_shows_them(
    tmp_path: Path, holder: Holder
) -> None:
    home = make_home(tmp_path, holder)
    crates = []
    for name in ("a", "b", "c"):
        crate = rendered_crate(tmp_path / name, home)
        (crate / "src/lib.rs").write_text(GATED_LIB)
        crates.append(crate)
    a, b, c = crates
    state = tmp_path / "cq-state"
    state.mkdir(mode=0o700)
    gate = tmp_path / "gate"
    env = build_env(home, state) | {"GATE": str(gate)}
    for crate in crates:  # compiled up front: the interesting part is who runs when
        for command in ("cargo test --no-run", "cargo check"):
            done = subprocess.run(
                ["bash", "-c", command], cwd=crate, env=env, capture_output=True, text=True
            )
            assert done.returncode == 0, done.stderr
    started = []
    try:
        for crate in (a, b):
            started.append(
                subprocess.Popen(
                    ["bash", "-c", "cargo test --lib"],
                    cwd=crate,
                    env=env,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT,
                    text=True,
                    start_new_session=True,
                )
            )
            wait_for(
                f"the test of {crate.parent.name} to hold or wait",
                lambda crate=crate: any(
                    r.get("worktree") == str(crate) for r in records(home, "*.rec")
                ),
            )
        holder = [r for r in records(home, "slot-*.rec") if r["kind"] == "test"]
        assert [r["worktree"] for r in holder] == [str(a)], holder
        waiting = records(home, "wait-*.rec")
        assert [(r["kind"], r["worktree"]) for r in waiting] == [("test", str(b))], waiting

        os.utime(c / "src/lib.rs")
        check = subprocess.run(
            ["bash", "-c", "cargo check"],
            cwd=c,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert check.returncode == 0, check.stderr
        assert started[0].poll() is None and started[1].poll() is None, "the tests still run"

        cq = a / "scripts/cq"
        status = subprocess.run(
            ["dash", str(cq), "status"], cwd=a, env=env, capture_output=True, text=True
        )
        assert status.returncode == 0, status.stderr
        text = status.stdout
        assert "test for" in text and f"in {a}: tiny-" in text, text
        assert "waiting for a slot:" in text and f"in {b}: tiny-" in text, text
        as_json = subprocess.run(
            ["dash", str(cq), "status", "--json"], cwd=a, env=env, capture_output=True, text=True
        )
        assert as_json.returncode == 0, as_json.stderr
        report = json.loads(as_json.stdout)["admission"]
        held = [s for s in report["slots"] if not s["free"]]
        assert [(s["kind"], s["worktree"]) for s in held] == [("test", str(a))], report
        assert [(w["kind"], w["worktree"]) for w in report["waiting"]] == [("test", str(b))]
        assert "cargo test --lib" in report["waiting"][0]["cargo"]
        assert isinstance(report["waiting"][0]["since"], int)
    finally:
        gate.write_text("")
    for proc in started:
        out, _ = proc.communicate(timeout=120)
        assert proc.returncode == 0, out
