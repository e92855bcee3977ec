"""Compiled dependencies kept by their key (issue 21): the wrapper's keyed store.

A git dependency (cargo checks it out under CARGO_HOME, like a crates.io crate, and never reads
its sources again) is compiled in one worktree and put back in another without rustc. What the
key does not cover, the entry's manifest does: a file its build script generated (OUT_DIR) and
a variable it read with `option_env!`. Each control shows the key alone would have served the
other worktree's output: both compiles had the same key (one entry, replaced). Real cargo, the
rendered wrapper, a file:// git repository (no network), on both build-dir layouts.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from conftest import build_file_tree
from cq.cq_helpers import cq_env, git
from cq.test_isolation import LAYOUTS, render_buildkit

DEP_FILES = {
    "Cargo.toml": '[workspace]\nmembers = ["gbase", "gdep", "gmacro"]\nresolver = "2"\n',
    "gbase/Cargo.toml": '[package]\nname = "gbase"\nversion = "0.1.0"\nedition = "2021"\n',
    "gbase/src/lib.rs": 'pub const VALUE: &str = "base";\n',
    "gdep/Cargo.toml": (
        '[package]\nname = "gdep"\nversion = "0.1.0"\nedition = "2021"\nbuild = "build.rs"\n\n'
        '[dependencies]\ngbase = { path = "../gbase" }\n'
    ),
    # what the build script writes depends on FLAVOR: OUT_DIR's content differs by worktree
    "gdep/build.rs": (
        "fn main() {\n"
        '    println!("cargo:rerun-if-env-changed=FLAVOR");\n'
        '    let flavor = std::env::var("FLAVOR").unwrap_or_default();\n'
        '    let out = std::env::var("OUT_DIR").unwrap();\n'
        '    let out = std::path::Path::new(&out).join("flavor.rs");\n'
        '    std::fs::write(out, format!("{flavor:?}")).unwrap();\n'
        "}\n"
    ),
    "gdep/src/lib.rs": (
        'pub fn flavor() -> &\'static str { include!(concat!(env!("OUT_DIR"), "/flavor.rs")) }\n'
        'pub const NOTE: Option<&str> = option_env!("GDEP_NOTE");\n'
        "pub fn base() -> &'static str { gbase::VALUE }\n"
    ),
    "gmacro/Cargo.toml": (
        '[package]\nname = "gmacro"\nversion = "0.1.0"\nedition = "2021"\n\n'
        "[lib]\nproc-macro = true\n"
    ),
    "gmacro/src/lib.rs": (
        "use proc_macro::TokenStream;\n"
        "#[proc_macro]\n"
        "pub fn greeting(_: TokenStream) -> TokenStream {\n"
        '    "\\"made by gmacro\\"".parse().unwrap()\n'
        "}\n"
    ),
}


def app_files(url: str) -> dict[str, str]:
    return {
        "Cargo.toml": (
            '[package]\nname = "app"\nversion = "0.1.0"\nedition = "2021"\n\n'
            f'[dependencies]\ngdep = {{ git = "{url}" }}\ngmacro = {{ git = "{url}" }}\n'
        ),
        ".gitignore": "/target\n",
        "src/main.rs": (
            "fn main() {\n"
            "    let made = gmacro::greeting!();\n"
            '    println!("{} {:?} {made} {}", gdep::flavor(), gdep::NOTE, gdep::base());\n'
            "}\n"
        ),
    }


@dataclass
class Rig:
    checkouts: dict[str, Path]
    env: dict[str, str]
    toolchain: list[str]
    store: Path

    def cargo(self, name: str, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            ["cargo", *self.toolchain, *args],
            cwd=self.checkouts[name],
            env={**self.env, **env},
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert done.returncode == 0, done.stderr
        return done

    def run(self, name: str, **env: str) -> str:
        """Build and run the app in one worktree; what it printed."""
        return self.cargo(name, "run", "-q", **env).stdout.strip()

    def rebuilt(self, name: str, **env: str) -> list[str]:
        stderr = self.cargo(name, "build", "-v", **env).stderr
        return [ln for ln in stderr.splitlines() if "Dirty" in ln or "Compiling" in ln]

    def entries(self, prefix: str) -> list[Path]:
        """The store's entries of one crate's outputs (by file name)."""
        found = []
        for manifest in self.store.glob("*/*/manifest"):
            if any(
                line.startswith(f"file\t{prefix}") for line in manifest.read_text().splitlines()
            ):
                found.append(manifest.parent)
        return found


def make_rig(tmp_path: Path, layout: str) -> Rig:
    dep = tmp_path / "deps"
    build_file_tree(dep, DEP_FILES)
    git(dep, "init", "-q", "-b", "main")
    git(dep, "add", "-A")
    git(dep, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "deps")
    main = tmp_path / "repo" / "main"
    build_file_tree(main, app_files(dep.as_uri()))
    git(main, "init", "-q", "-b", "main")
    cargo_home = tmp_path / "cargo-home"
    cargo_home.mkdir()
    toolchain, layout_env = LAYOUTS[layout]
    env = cq_env(tmp_path / "state", CARGO_HOME=str(cargo_home), **layout_env)
    # rustup's toolchains stay where they are: only cargo's own home is private
    env.setdefault("RUSTUP_HOME", os.environ.get("RUSTUP_HOME", str(Path.home() / ".rustup")))
    (tmp_path / "state").mkdir(mode=0o700)
    env["BUILDKIT_CACHE_DIR"] = str(tmp_path / "cache")
    subprocess.run(
        ["cargo", *toolchain, "generate-lockfile", "-q"],
        cwd=main,
        env=env,
        check=True,
        timeout=300,
    )
    render_buildkit(main)
    git(main, "add", "-A")
    git(main, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "app")
    twin = tmp_path / "repo" / "twin"
    git(main, "worktree", "add", "-q", "--detach", str(twin))
    return Rig({"main": main, "twin": twin}, env, toolchain, tmp_path / "cache" / "keyed")


def _outputs(checkout: Path, pattern: str) -> list[Path]:
    return sorted(p for p in (checkout / "target").rglob(pattern) if p.is_file())


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_a_second_worktree_gets_the_dependencies_without_compiling(
    tmp_path: Path, layout: str
) -> None:
    rig = make_rig(tmp_path, layout)
    assert rig.run("main", FLAVOR="a") == "a None made by gmacro base"
    for manifest in rig.store.glob("*/*/manifest"):
        os.utime(manifest, (1_000_000_000, 1_000_000_000))
    assert rig.run("twin", FLAVOR="a") == "a None made by gmacro base"
    # every entry served the twin (a hit touches its manifest), none was compiled again
    manifests = list(rig.store.glob("*/*/manifest"))
    assert manifests and all(m.stat().st_mtime > 1_000_000_000 for m in manifests)
    # the .rlib is one file; the .rmeta, the proc-macro and the build script are each
    # worktree's own, so that cargo's freshness by modification time stays as without the store
    (main_rlib,) = _outputs(rig.checkouts["main"], "libgdep-*.rlib")
    (twin_rlib,) = _outputs(rig.checkouts["twin"], "libgdep-*.rlib")
    assert main_rlib.stat().st_ino == twin_rlib.stat().st_ino
    # the store keeps the first worktree's .rlib and .rmeta themselves (links), not copies
    (main_rmeta,) = _outputs(rig.checkouts["main"], "libgdep-*.rmeta")
    kept = {p.name: p.stat().st_ino for p in rig.store.glob("*/*/f/libgdep-*")}
    assert kept[main_rlib.name] == main_rlib.stat().st_ino
    assert kept[main_rmeta.name] == main_rmeta.stat().st_ino
    for pattern in ("libgdep-*.rmeta", "libgmacro-*.so"):
        (main_file,) = _outputs(rig.checkouts["main"], pattern)
        (twin_file,) = _outputs(rig.checkouts["twin"], pattern)
        assert main_file.stat().st_ino != twin_file.stat().st_ino
        assert main_file.read_bytes() == twin_file.read_bytes()
    # the twin's dep-info names the twin's paths, which cargo reads
    for depinfo in _outputs(rig.checkouts["twin"], "*.d"):
        assert str(rig.checkouts["main"]) not in depinfo.read_text(), depinfo
    assert rig.rebuilt("twin", FLAVOR="a") == []
    assert rig.rebuilt("main", FLAVOR="a") == []


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_a_build_script_output_that_differs_is_compiled_again(tmp_path: Path, layout: str) -> None:
    rig = make_rig(tmp_path, layout)
    assert rig.run("main", FLAVOR="a").startswith("a ")
    assert rig.run("twin", FLAVOR="b").startswith("b ")
    # control: the same key both times (one entry, replaced), so the key alone would have
    # served "a" to the twin; the manifest's check of OUT_DIR's file made it a miss
    assert len(rig.entries("libgdep-")) == 1
    assert rig.run("main", FLAVOR="b").startswith("b ")
    assert rig.run("main", FLAVOR="a").startswith("a ")


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_a_variable_the_dependency_reads_that_differs_is_compiled_again(
    tmp_path: Path, layout: str
) -> None:
    rig = make_rig(tmp_path, layout)
    assert rig.run("main", FLAVOR="a", GDEP_NOTE="x") == 'a Some("x") made by gmacro base'
    assert rig.run("twin", FLAVOR="a", GDEP_NOTE="y") == 'a Some("y") made by gmacro base'
    assert len(rig.entries("libgdep-")) == 1  # control: one key for both
    (entry,) = rig.entries("libgdep-")
    assert "env\tGDEP_NOTE\t1\ty" in (entry / "manifest").read_text().splitlines()


def test_an_extern_library_is_keyed_by_its_content(tmp_path: Path) -> None:
    # The library a dependency links against is keyed by its bytes, not its file name: gdep
    # depends on gbase, which a [patch] replaces with a path crate, whose file name stays the
    # same while its content changes (gdep inlines its constant).
    rig = make_rig(tmp_path, "current")
    main = rig.checkouts["main"]
    build_file_tree(
        main,
        {
            "base/Cargo.toml": '[package]\nname = "gbase"\nversion = "0.1.0"\nedition = "2021"\n',
            "base/src/lib.rs": 'pub const VALUE: &str = "patched-one";\n',
        },
    )
    url = (tmp_path / "deps").as_uri()
    with (main / "Cargo.toml").open("a") as manifest:
        manifest.write(f'\n[patch."{url}"]\ngbase = {{ path = "base" }}\n')
    assert rig.run("main", FLAVOR="a").endswith(" patched-one")
    (base,) = _outputs(main, "libgbase-*.rmeta")
    (main / "base/src/lib.rs").write_text('pub const VALUE: &str = "patched-two";\n')
    assert rig.run("main", FLAVOR="a").endswith(" patched-two")
    # control: the same file name both times, and gdep kept under one key each time
    assert [p.name for p in _outputs(main, "libgbase-*.rmeta")] == [base.name]
    assert len(rig.entries("libgdep-")) == 2


def test_without_digest_sha_the_store_uses_sha256sum(tmp_path: Path) -> None:
    # perl-base (Debian's minimal perl) has no Digest::SHA: the store hashes with coreutils
    rig = make_rig(tmp_path, "current")
    fake = tmp_path / "perl-lib" / "Digest"
    fake.mkdir(parents=True)
    (fake / "SHA.pm").write_text('die "no Digest::SHA here\\n";\n')
    rig.env["PERL5LIB"] = str(tmp_path / "perl-lib")
    assert rig.run("main", FLAVOR="a").startswith("a ")
    assert rig.run("twin", FLAVOR="a").startswith("a ")
    (main_rlib,) = _outputs(rig.checkouts["main"], "libgdep-*.rlib")
    (twin_rlib,) = _outputs(rig.checkouts["twin"], "libgdep-*.rlib")
    assert main_rlib.stat().st_ino == twin_rlib.stat().st_ino
