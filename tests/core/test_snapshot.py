"""The copy a render takes of what a side-effect step's tool may touch, and putting it back."""

from __future__ import annotations

import stat
from pathlib import Path

from buildkit.render.snapshot import Snapshot
from conftest import build_file_tree


def test_restore_undoes_changes_new_files_new_folders_and_modes(tmp_path: Path) -> None:
    root = build_file_tree(tmp_path / "ws", {"Cargo.toml": "[workspace]\n", "hack/a.toml": "a"})
    (root / "hack" / "a.toml").chmod(0o600)
    snapshot = Snapshot.take(root, ["Cargo.toml", "Cargo.lock", "hack", "new-crate"])
    (root / "Cargo.toml").write_text("[workspace]\nmembers = ['new-crate']\n")
    (root / "Cargo.lock").write_text("# lock\n")
    (root / "hack" / "a.toml").chmod(0o644)
    build_file_tree(root, {"hack/src/lib.rs": "", "new-crate/src/lib.rs": "", "new-crate/x": ""})
    snapshot.restore()
    assert sorted(str(p.relative_to(root)) for p in root.rglob("*")) == [
        "Cargo.toml",
        "hack",
        "hack/a.toml",
    ]
    assert (root / "Cargo.toml").read_text() == "[workspace]\n"
    assert stat.S_IMODE((root / "hack" / "a.toml").stat().st_mode) == 0o600


def test_an_unchanged_file_is_not_written_again(tmp_path: Path) -> None:
    root = build_file_tree(tmp_path / "ws", {"Cargo.toml": "[workspace]\n"})
    snapshot = Snapshot.take(root, ["Cargo.toml"])
    inode = (root / "Cargo.toml").stat().st_ino
    snapshot.restore()
    assert (root / "Cargo.toml").stat().st_ino == inode
