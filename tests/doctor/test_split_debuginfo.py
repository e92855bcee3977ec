"""The macOS leak: split-debuginfo = "unpacked" leaves the object files next to every binary.

Simulated on Linux: macOS keeps DWARF in the object files (`*.rcgu.o`) that rustc leaves beside
each binary; the installed nightly rustc does the same on Linux with `-Zsplit-dwarf-kind=single`.
The cargo setting, the profile key that renders it and doctor's count are real.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from conftest import run_buildkit
from doctor.doctor_helpers import cargo_env, doctor_json, find, gc_json, make_repo

PROFILE = "version: 1\nhakari:\n  enabled: false\ncargo:\n  split_debuginfo: {mode}\n"


def _render(root: Path, mode: str) -> str:
    (root / "buildkit.yaml").write_text(PROFILE.format(mode=mode))
    ran = run_buildkit("render", root)
    assert ran.exit_code == 0, ran.stderr
    return (root / ".cargo" / "config.toml").read_text()


def _build_like_macos(root: Path) -> None:
    env = cargo_env()
    env["RUSTFLAGS"] = "-Zsplit-dwarf-kind=single"
    subprocess.run(["cargo", "+nightly", "build", "-q"], cwd=root, env=env, check=True)


def test_unpacked_leftovers_are_reported_and_packed_stops_them(tmp_path: Path) -> None:
    root = make_repo(tmp_path / "ws")
    config = _render(root, "unpacked")
    assert 'split-debuginfo = "unpacked"' in config
    _build_like_macos(root)
    objects = find(root / "target", "-name", "*.rcgu.o")
    assert objects
    data = doctor_json(root)
    (t,) = data["target_dirs"]
    assert t["split_debuginfo_leftovers"]["files"] == len(objects)
    blocks = sum(os.lstat(p).st_blocks * 512 for p in objects)
    assert t["split_debuginfo_leftovers"]["bytes"] == blocks
    finding = next(f for f in data["findings"] if f["kind"] == "split_debuginfo")
    assert 'split-debuginfo = "packed"' in finding["recommendation"]

    assert 'split-debuginfo = "packed"' in _render(root, "packed")
    for main in root.glob("app*/src/main.rs"):
        main.write_text(main.read_text() + "// changed\n")
    _build_like_macos(root)
    assert find(root / "target", "-name", "*.rcgu.o") == objects  # no new ones
    # the leftovers belong to the units built unpacked; those go whole, the new build stays
    gc_json(root, "--max-size", "1")
    assert find(root / "target", "-name", "*.rcgu.o") == []
    ran = subprocess.run(
        ["cargo", "+nightly", "build", "-v"],
        cwd=root,
        env={**cargo_env(), "RUSTFLAGS": "-Zsplit-dwarf-kind=single"},
        capture_output=True,
        text=True,
        check=True,
    )
    assert "Compiling" not in ran.stderr
