"""A workspace whose branches differ in every place a shared build-dir could serve stale code:
the binary's own text, a build script's generated code (OUT_DIR), a proc-macro crate, a path
dependency outside the members (vendor/), an example and an integration test's assertion. Its
only registry dependency (cfg-if, read from the machine's cargo cache, offline) proves that
registry units are shared."""

from __future__ import annotations

import subprocess
from pathlib import Path

from conftest import build_file_tree
from cq.cq_helpers import git

# The text every artifact of branch BRANCH prints: main, build script, proc-macro, vendor crate.
EXPECTED = "{b}-main {b}-gen {b}-mac {b}-vendor"
ONLY_MAIN = '    std::fs::write(format!("{out}/only-main"), "").unwrap();\n'


def branch_files(branch: str) -> dict[str, str]:
    expected = EXPECTED.format(b=branch)
    is_main = "true" if branch == "main" else "false"
    return {
        "Cargo.toml": (
            '[workspace]\nmembers = ["app", "mac"]\nresolver = "2"\n\n'
            '[profile.custom]\ninherits = "dev"\n'
        ),
        ".gitignore": "/target\n",
        "app/Cargo.toml": (
            '[package]\nname = "app"\nversion = "0.1.0"\nedition = "2021"\n\n'
            '[dependencies]\nmac = { path = "../mac" }\nvlib = { path = "../vendor/vlib" }\n'
            'cfg-if = "1"\n'
        ),
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
            f'            format!("{{}} {{}} {{}} {{}}", "{branch}-main", GEN, mac::branch!(), '
            "vlib::text())\n"
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
            f'    assert_eq!(app::line(), "{expected}");\n'
            "    let dir = std::env::current_exe().unwrap().parent().unwrap().parent().unwrap()\n"
            "        .to_path_buf();\n"
            f'    assert_eq!(output(&dir.join("app")), "{expected}");\n'
            f'    assert_eq!(output(&dir.join("examples").join("ex")), "{branch}-example");\n'
            '    let bin_exe = std::path::Path::new(env!("CARGO_BIN_EXE_app"));\n'
            f'    assert_eq!(output(bin_exe), "{expected}");\n'
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
    }


def make_shared_repo(root: Path, branches: list[str]) -> dict[str, Path]:
    """A repository whose first branch is checked out at ``root`` and every other branch in a
    linked worktree beside it; Cargo.lock (committed) pins cfg-if from the local cache."""
    build_file_tree(root, branch_files(branches[0]))
    git(root, "init", "-q", "-b", branches[0])
    subprocess.run(
        ["cargo", "generate-lockfile", "--offline", "--quiet"], cwd=root, check=True, timeout=120
    )
    git(root, "add", "-A")
    git(root, "commit", "-qm", branches[0])
    checkouts = {branches[0]: root}
    for branch in branches[1:]:
        other = root.parent / f"{root.name}-{branch}"
        git(root, "worktree", "add", "-q", "-b", branch, str(other))
        build_file_tree(other, branch_files(branch))
        git(other, "commit", "-qam", branch)
        checkouts[branch] = other
    return checkouts


def source_files(checkout: Path) -> list[Path]:
    return [
        p
        for p in checkout.rglob("*")
        if p.is_file() and ".git" not in p.parts and "target" not in p.parts
    ]
