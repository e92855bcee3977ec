"""Doctests inside the budget: `build.rustdoc` runs the toolchain's rustdoc holding slots.

`cargo test` runs `rustdoc --test`, which compiles and runs every doctest: with the budget held
the doctest run waits (its waiting record appears and no rustdoc runs), and passes once the
budget is free. Under `cargo +nightly test` the rustdoc must be nightly's (a stable rustdoc
cannot read the nightly-compiled library: E0514), so the doctest passing shows which ran.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from admission.admission_helpers import (
    build_env,
    doctests_wait_for_the_budget,
    make_home,
    rendered_crate,
)

DOCUMENTED_LIB = """/// ```
/// assert_eq!(tiny::answer(), 42);
/// ```
pub fn answer() -> u32 {
    42
}
"""


@pytest.mark.parametrize("toolchain", [[], ["+nightly"]], ids=["default", "nightly"])
def test_a_doctest_waits_while_the_budget_is_held(tmp_path: Path, toolchain: list[str]) -> None:
    home = make_home(tmp_path)
    crate = rendered_crate(tmp_path, home)
    toml = crate / "Cargo.toml"
    toml.write_text(toml.read_text().replace("doctest = false", "doctest = true"))
    (crate / "src/lib.rs").write_text(DOCUMENTED_LIB)
    assert 'rustdoc = ".config/buildkit/bin/rustdoc"' in (crate / ".cargo/config.toml").read_text()
    env = build_env(home, tmp_path / "cq-state")
    command = ["cargo", *toolchain, "test", "--doc"]
    warm = subprocess.run(command, cwd=crate, env=env, capture_output=True, text=True)
    assert warm.returncode == 0, warm.stderr
    assert "1 passed" in warm.stdout, warm.stdout

    doctests_wait_for_the_budget(home, command, crate, env)
