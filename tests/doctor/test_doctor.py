"""buildkit doctor on target dirs produced by real cargo builds: counts equal what find/du say."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from conftest import REPO, build_file_tree, run_buildkit
from doctor.doctor_helpers import (
    WORKSPACE,
    cargo,
    doctor_json,
    drop_units,
    du,
    find,
    git,
    start_orphan,
)


def _target(data: dict[str, Any], path: Path) -> dict[str, Any]:
    matches = [t for t in data["target_dirs"] if t["path"] == str(path)]
    assert len(matches) == 1, [t["path"] for t in data["target_dirs"]]
    return matches[0]


def _incremental_per_crate(target: Path) -> dict[str, int]:
    counts: dict[str, int] = {}
    for line in find(
        target, "-mindepth", "3", "-maxdepth", "3", "-type", "d", "-path", "*/incremental/*"
    ):
        crate = Path(line).name.rsplit("-", 1)[0]
        counts[crate] = counts.get(crate, 0) + 1
    return counts


def test_counts_equal_find_and_du(built: Path) -> None:
    target = built / "target"
    drop_units(built, "app2")  # its incremental dirs are nobody's now: an `incremental` finding
    data = doctor_json(built)
    t = _target(data, target)

    incremental = find(
        target, "-mindepth", "3", "-maxdepth", "3", "-type", "d", "-path", "*/incremental/*"
    )
    rlibs = find(target, "-type", "f", "-path", "*/deps/*", "-name", "*.rlib")
    assert len(incremental) >= 8  # several feature mixes really produced several dirs
    assert t["incremental"]["dirs"] == len(incremental)
    per_crate = {c: v["dirs"] for c, v in t["incremental"]["crates"].items()}
    assert per_crate == _incremental_per_crate(target)
    assert t["rlibs"] == len(rlibs)
    assert t["units"] == len(
        find(target / "debug" / ".fingerprint", "-mindepth", "1", "-maxdepth", "1")
    )
    assert t["bytes"] == du(target)
    assert sum(t["profiles"].values()) + t["other_bytes"] == t["bytes"]
    assert t["files"] == len(find(target, "!", "-type", "d"))
    assert t["stale"] is False
    assert data["bytes_counted_as"] == "allocated"
    kinds = {f["kind"] for f in data["findings"]}
    assert {"incremental", "duplicates"} <= kinds
    inc_finding = next(f for f in data["findings"] if f["kind"] == "incremental")
    assert 0 < inc_finding["bytes"] < t["incremental"]["bytes"]


def test_every_worktree_and_a_removed_one(built: Path) -> None:
    # a second worktree with its own build, and a third whose checkout was deleted
    # (only its target/ is left): its target dir is reported as stale
    second, gone = built.parent / "second", built.parent / "gone"
    git(built, "worktree", "add", "-q", str(second))
    git(built, "worktree", "add", "-q", str(gone))
    cargo(second, "build", "-p", "app1")
    cargo(gone, "build", "-p", "app2")
    for entry in gone.iterdir():
        if entry.name != "target":
            shutil.rmtree(entry) if entry.is_dir() else entry.unlink()

    data = doctor_json(built)
    paths = {t["path"] for t in data["target_dirs"]}
    assert paths == {str(built / "target"), str(second / "target"), str(gone / "target")}
    assert _target(data, second / "target")["bytes"] == du(second / "target")
    stale = _target(data, gone / "target")
    assert stale["stale"] is True
    assert stale["bytes"] == du(gone / "target")
    finding = next(f for f in data["findings"] if f["kind"] == "stale_target_dir")
    assert finding["path"] == str(gone / "target")
    assert finding["bytes"] == stale["bytes"]
    assert [w["prunable"] for w in data["worktrees"]].count(True) == 1
    # several target dirs: every finding about one names it in its message
    about_targets = [f for f in data["findings"] if f["path"] in paths]
    assert len({f["path"] for f in about_targets}) >= 2
    assert all(f["path"] in f["message"] for f in about_targets)


def test_orphans_started_on_purpose_are_listed(built: Path, spawned: list[int]) -> None:
    bin_dir = built / "target" / "debug" / "deps"
    test_pid = start_orphan(bin_dir, "app1-0123456789abcdef", built / "app1", spawned)
    cargo_pid = start_orphan(built / "fakebin", "cargo", built, spawned)
    data = doctor_json(built)
    orphans = {o["pid"]: o for o in data["orphans"]}
    assert test_pid in orphans and cargo_pid in orphans, data["orphans"]
    assert orphans[test_pid]["program"] == "app1-0123456789abcdef"
    assert orphans[test_pid]["cwd"] == str(built / "app1")
    assert orphans[cargo_pid]["program"] == "cargo"
    assert orphans[cargo_pid]["ppid"] == 1
    assert orphans[test_pid]["age_seconds"] >= 0
    assert 0 <= orphans[test_pid]["cpu_percent"] <= 100
    assert any(f["kind"] == "orphan" for f in data["findings"])

    ran = run_buildkit("doctor", built)
    assert "orphaned build processes:" in ran.stdout
    assert str(test_pid) in ran.stdout


def test_human_view_and_setup(built: Path) -> None:
    ran = run_buildkit("doctor", built)
    assert ran.exit_code == 0, ran.stderr
    assert str(built / "target") in ran.stdout
    assert "core_lib" in ran.stdout and "feature mix" in ran.stdout
    assert "no buildkit.yaml" in ran.stdout
    assert ran.stderr == ""  # not a TTY and no --progress: no progress lines
    progress = subprocess.run(
        [sys.executable, "-m", "buildkit", "doctor", str(built), "--progress"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "reclaimable:" in progress.stdout
    assert f"scanning {built / 'target'}" in progress.stderr
    assert "scanning" not in progress.stdout


def test_missing_path_is_one_line_error(tmp_path: Path) -> None:
    ran = run_buildkit("doctor", tmp_path / "nope")
    assert ran.exit_code == 2
    assert ran.stderr.count("\n") == 1 and "not a directory" in ran.stderr


def test_workspace_in_a_subdirectory_of_each_worktree(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    build_file_tree(repo / "rust", WORKSPACE)
    git(repo, "init", "-q", "-b", "main")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@example.invalid", "add", "-A")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@example.invalid", "commit", "-qm", "ws")
    other = tmp_path / "other"
    git(repo, "worktree", "add", "-q", str(other))
    cargo(repo / "rust", "check", "-p", "app1")
    cargo(other / "rust", "check", "-p", "app2")
    data = doctor_json(repo / "rust")
    assert {t["path"] for t in data["target_dirs"]} == {
        str(repo / "rust" / "target"),
        str(other / "rust" / "target"),
    }


def _setup_findings(root: Path) -> list[str]:
    return [
        str(f["message"])
        for f in doctor_json(root)["findings"]  # type: ignore[attr-defined]
        if f["kind"] == "setup"
    ]


def test_setup_findings_a_broken_profile_and_a_state_dir_cq_refuses(
    built: Path, tmp_path: Path, monkeypatch: Any
) -> None:
    # a workspace without cq anywhere: one finding naming both places
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    assert any("no cq: not in the repository, not on PATH" in m for m in _setup_findings(built))
    # its own cq is enough, on PATH or not
    cq = built / "scripts" / "cq"
    cq.parent.mkdir()
    shutil.copy(REPO / "templates" / "cq.sh", cq)
    cq.chmod(0o755)
    assert not any("cq" in m for m in _setup_findings(built))
    # a profile render and check refuse: said where, as they say it
    (built / "buildkit.yaml").write_text("version: 1\ncargo:\n  jbos: 4\n")
    (broken,) = [m for m in _setup_findings(built) if "buildkit.yaml" in m]
    assert "buildkit.yaml:3: cargo.jbos: unknown key" in broken
    # a state directory others may write to: cq refuses it on every command
    loose = tmp_path / "loose-state"
    loose.mkdir()
    loose.chmod(0o777)
    monkeypatch.setenv("CQ_STATE_DIR", str(loose))
    (state,) = [m for m in _setup_findings(built) if "state directory" in m]
    assert f"state directory {loose} is accessible to others" in state  # cq's own words
    assert f"chmod 700 '{loose}'" in state
    refused = subprocess.run(["sh", str(cq), "status"], capture_output=True, text=True)
    assert refused.returncode == 77  # the finding says what cq does
    loose.chmod(0o700)
    assert not [m for m in _setup_findings(built) if "state directory" in m]
