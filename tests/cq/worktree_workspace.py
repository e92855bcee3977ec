"""A workspace whose branches differ in every place a shared build-dir or a compiler cache could
serve stale code: the binary's own text, a build script's generated code (OUT_DIR), a
proc-macro crate, a path dependency outside the members (vendor/), a path dependency outside
the repository (../../outside/), a file read by `include_str!`, a `[patch]` of the registry
dependency (every branch but the first), an example and an integration test's assertion. Its
only registry dependency (cfg-if, read from the machine's cargo cache, offline) is the unit the
worktrees really have in common."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

from conftest import build_file_tree
from cq.cq_helpers import git

# The text every artifact of branch BRANCH prints: main, build script, proc-macro, vendor crate,
# the crate outside the repository, the include_str! file, and the patched cfg-if (not on main).
EXPECTED = "{b}-main {b}-gen {b}-mac {b}-vendor {b}-olib {b}-data{patch}"
PATCHED_CFG_IF = """#[macro_export]
macro_rules! cfg_if {
    (if #[cfg($m:meta)] { $($i:item)* } else { $($e:item)* }) => {
        $( #[cfg($m)] $i )*
        $( #[cfg(not($m))] $e )*
    };
}
pub const PATCHED: &str = "BRANCH-patched";
"""


def expected(branch: str) -> str:
    """What branch's binary prints."""
    return EXPECTED.format(b=branch, patch="" if branch == "main" else f" {branch}-patched")


ONLY_MAIN = '    std::fs::write(format!("{out}/only-main"), "").unwrap();\n'


def branch_files(branch: str) -> dict[str, str]:
    expected_line = expected(branch)
    patched = '""' if branch == "main" else 'format!(" {}", cfg_if::PATCHED)'
    is_main = "true" if branch == "main" else "false"
    return {
        "Cargo.toml": (
            '[workspace]\nmembers = ["app", "mac"]\nresolver = "2"\n\n'
            '[profile.custom]\ninherits = "dev"\n'
            + (
                ""
                if is_main == "true"
                else '\n[patch.crates-io]\ncfg-if = { path = "patched/cfg-if" }\n'
            )
        ),
        ".gitignore": "/target\n",
        "app/Cargo.toml": (
            '[package]\nname = "app"\nversion = "0.1.0"\nedition = "2021"\n\n'
            '[dependencies]\nmac = { path = "../mac" }\nvlib = { path = "../vendor/vlib" }\n'
            f'olib = {{ path = "../../outside/olib-{branch}" }}\ncfg-if = "1"\n'
        ),
        "app/src/data.txt": f"{branch}-data\n",
        "app/build.rs": (
            "fn main() {\n"
            '    let out = std::env::var("OUT_DIR").unwrap();\n'
            f'    let code = "pub const GEN: &str = \\"{branch}-gen\\";";\n'
            '    std::fs::write(format!("{out}/gen.rs"), code).unwrap();\n'
            # a file only one branch writes: another branch's OUT_DIR must not show it
            + (ONLY_MAIN if branch == "main" else "")
            + "}\n"
        ),
        "app/src/lib.rs": (
            'include!(concat!(env!("OUT_DIR"), "/gen.rs"));\n'
            "cfg_if::cfg_if! {\n"
            "    if #[cfg(unix)] {\n"
            "        pub fn line() -> String {\n"
            f'            format!("{{}} {{}} {{}} {{}} {{}} {{}}{{}}", "{branch}-main", GEN, '
            "mac::branch!(), vlib::text(), olib::text(), "
            f'include_str!("data.txt").trim(), {patched})\n'
            "        }\n"
            "    } else {\n"
            '        pub fn line() -> String { String::from("not unix") }\n'
            "    }\n"
            "}\n"
        ),
        "app/src/main.rs": 'fn main() {\n    println!("{}", app::line());\n}\n',
        "app/examples/ex.rs": f'fn main() {{\n    println!("{branch}-example");\n}}\n',
        # An integration test, as assert_cmd's cargo_bin() does: the binary next to the test
        # executable's directory, and cargo's env!("CARGO_BIN_EXE_app").
        "app/tests/it.rs": (
            "use std::process::Command;\n"
            "fn output(path: &std::path::Path) -> String {\n"
            "    let out = Command::new(path).output()\n"
            '        .unwrap_or_else(|e| panic!("{path:?}: {e}"));\n'
            "    String::from_utf8(out.stdout).unwrap().trim().to_string()\n"
            "}\n"
            "#[test]\n"
            "fn branch() {\n"
            f'    println!("RAN {branch}");\n'
            # cargo run by a test (trybuild, a fixture build) must not inherit cq's build-dir
            '    println!("NESTED_BUILD_DIR={:?}", std::env::var_os("CARGO_BUILD_BUILD_DIR"));\n'
            f'    assert_eq!(app::line(), "{expected_line}");\n'
            "    let dir = std::env::current_exe().unwrap().parent().unwrap().parent().unwrap()\n"
            "        .to_path_buf();\n"
            # cargo's new build-dir layout keeps test executables apart from the binaries
            # (a lookup beside the executable fails there with plain cargo too)
            '    if option_env!("CARGO_UNSTABLE_BUILD_DIR_NEW_LAYOUT").is_none() {\n'
            f'        assert_eq!(output(&dir.join("app")), "{expected_line}");\n'
            f'        assert_eq!(output(&dir.join("examples").join("ex")), "{branch}-example");\n'
            "    }\n"
            '    let bin_exe = std::path::Path::new(env!("CARGO_BIN_EXE_app"));\n'
            f'    assert_eq!(output(bin_exe), "{expected_line}");\n'
            # OUT_DIR read at run time holds what this branch's build script wrote, only that
            '    let out_dir = std::path::Path::new(env!("OUT_DIR"));\n'
            '    let gen = std::fs::read_to_string(out_dir.join("gen.rs")).unwrap();\n'
            f'    assert!(gen.contains("\\"{branch}-gen\\""), "{{gen}}");\n'
            f'    assert_eq!(out_dir.join("only-main").exists(), {is_main}, "only-main");\n'
            "}\n"
        ),
        "mac/Cargo.toml": (
            '[package]\nname = "mac"\nversion = "0.1.0"\nedition = "2021"\n\n'
            "[lib]\nproc-macro = true\n"
        ),
        "mac/src/lib.rs": (
            "use proc_macro::TokenStream;\n"
            "#[proc_macro]\n"
            "pub fn branch(_: TokenStream) -> TokenStream {\n"
            f'    "\\"{branch}-mac\\"".parse().unwrap()\n'
            "}\n"
        ),
        "vendor/vlib/Cargo.toml": (
            '[package]\nname = "vlib"\nversion = "0.1.0"\nedition = "2021"\n'
        ),
        "vendor/vlib/src/lib.rs": (
            f'pub fn text() -> &\'static str {{\n    "{branch}-vendor"\n}}\n'
        ),
        **(
            {}
            if branch == "main"
            else {
                "patched/cfg-if/Cargo.toml": (
                    '[package]\nname = "cfg-if"\nversion = "1.0.99"\nedition = "2018"\n'
                ),
                "patched/cfg-if/src/lib.rs": PATCHED_CFG_IF.replace("BRANCH", branch),
            }
        ),
    }


def outside_files(branch: str) -> dict[str, str]:
    """The path dependency outside the repository that branch's app uses."""
    return {
        f"olib-{branch}/Cargo.toml": (
            '[package]\nname = "olib"\nversion = "0.1.0"\nedition = "2021"\n'
        ),
        f"olib-{branch}/src/lib.rs": (
            f'pub fn text() -> &\'static str {{\n    "{branch}-olib"\n}}\n'
        ),
    }


def make_worktrees(
    root: Path, branches: list[str], prepare: Callable[[Path], None] | None = None
) -> dict[str, Path]:
    """A repository whose first branch is checked out at ``root`` and every other branch in a
    linked worktree beside it; Cargo.lock (committed) pins cfg-if from the local cache.
    ``prepare`` runs in ``root`` before the first commit (buildkit init, say), so every
    worktree has what it wrote."""
    for branch in branches:
        build_file_tree(root.parent / "outside", outside_files(branch))
    build_file_tree(root, branch_files(branches[0]))
    git(root, "init", "-q", "-b", branches[0])
    subprocess.run(
        ["cargo", "generate-lockfile", "--offline", "--quiet"], cwd=root, check=True, timeout=120
    )
    if prepare is not None:
        prepare(root)
    git(root, "add", "-A")
    git(root, "commit", "-qm", branches[0])
    checkouts = {branches[0]: root}
    for branch in branches[1:]:
        other = root.parent / f"{root.name}-{branch}"
        git(root, "worktree", "add", "-q", "-b", branch, str(other))
        build_file_tree(other, branch_files(branch))
        # its [patch] takes effect only in a lock resolved with it
        subprocess.run(
            ["cargo", "generate-lockfile", "--offline", "--quiet"],
            cwd=other,
            check=True,
            timeout=120,
        )
        git(other, "add", "-A")
        git(other, "commit", "-qm", branch)
        checkouts[branch] = other
    return checkouts


def source_files(checkout: Path) -> list[Path]:
    return [
        p
        for p in checkout.rglob("*")
        if p.is_file() and ".git" not in p.parts and "target" not in p.parts
    ]
