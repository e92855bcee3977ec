"""Detect a Cargo workspace with the real ``cargo metadata`` and its git worktrees."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from buildkit.errors import BadInput, EnvironmentProblem


@dataclass(frozen=True)
class Member:
    name: str
    path: str
    features: tuple[str, ...]


@dataclass(frozen=True)
class Workspace:
    root: Path
    kind: str  # "workspace" or "package"
    members: tuple[Member, ...]
    default_members: tuple[str, ...]
    resolver: str | None
    rust_version: str | None = None  # the highest `rust-version` any member declares

    def as_profile_section(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "members": [
                {"name": m.name, "path": m.path, "features": list(m.features)} for m in self.members
            ],
            "default_members": list(self.default_members),
        }


def find_cargo() -> str:
    cargo = shutil.which("cargo")
    if cargo is None:
        raise EnvironmentProblem(
            "cargo is not on PATH; install Rust (rustup) or add cargo's bin folder to PATH"
        )
    return cargo


def detect_workspace(root: Path) -> Workspace:
    """Read members, features and default members of the workspace rooted at ``root``."""
    manifest = root / "Cargo.toml"
    if not manifest.is_file():
        raise BadInput(f"{root}: no Cargo.toml here; run buildkit in a Cargo workspace or package")
    try:
        parsed = tomllib.loads(manifest.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise BadInput(f"{manifest}: invalid TOML: {exc}; fix the manifest") from None
    metadata = _cargo_metadata(manifest)

    by_id = {pkg["id"]: pkg for pkg in metadata["packages"]}
    workspace_root = Path(metadata["workspace_root"])
    members = []
    rust_versions = []
    for member_id in metadata["workspace_members"]:
        pkg = by_id[member_id]
        if pkg.get("rust_version"):
            rust_versions.append(str(pkg["rust_version"]))
        member_dir = Path(pkg["manifest_path"]).parent
        rel = member_dir.relative_to(workspace_root).as_posix() or "."
        features = tuple(sorted(f for f in pkg.get("features", {}) if f != "default"))
        members.append(Member(name=pkg["name"], path=rel, features=features))
    default_ids = metadata.get("workspace_default_members") or metadata["workspace_members"]
    defaults = tuple(by_id[i]["name"] for i in default_ids if i in by_id)
    workspace_table = parsed.get("workspace")
    resolver = None
    if isinstance(workspace_table, dict):
        resolver = workspace_table.get("resolver")
    return Workspace(
        root=root,
        kind="workspace" if isinstance(workspace_table, dict) else "package",
        members=tuple(members),
        default_members=defaults,
        resolver=str(resolver) if resolver is not None else None,
        rust_version=max(rust_versions, key=_version_key, default=None),
    )


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(part) if part.isdigit() else 0 for part in version.split("."))


def _cargo_metadata(manifest: Path) -> dict[str, Any]:
    cargo = find_cargo()
    command = [
        cargo,
        "metadata",
        "--no-deps",
        "--format-version",
        "1",
        "--manifest-path",
        str(manifest),
    ]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        detail = _last_error_line(result.stderr)
        raise BadInput(
            f"{_cargo_location(result.stderr, manifest)}: `cargo metadata` failed: {detail}"
        )
    loaded: dict[str, Any] = json.loads(result.stdout)
    return loaded


def _cargo_location(stderr: str, manifest: Path) -> str:
    """The file:line:column cargo pointed at (``--> crates/a/Cargo.toml:3:11``), else the root
    manifest: a member's broken manifest is named, not the workspace's."""
    match = re.search(r"^\s*--> (.+?):(\d+):(\d+)\s*$", stderr, re.M)
    if match is None:
        return str(manifest)
    # cargo names it relative to its working directory, which is ours
    path = (Path.cwd() / match[1]).resolve()
    return f"{path}:{match[2]}:{match[3]}"


def _last_error_line(stderr: str) -> str:
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("error")]
    return (errors or lines or ["no output"])[0]


def git_output(root: Path, *args: str) -> str | None:
    """``git -C root ARGS`` stdout, or None when git is missing or says no (not a repository)."""
    git = shutil.which("git")
    if git is None:
        return None
    result = subprocess.run(
        [git, "-C", str(root), *args], capture_output=True, text=True, check=False
    )
    return result.stdout if result.returncode == 0 else None


def git_worktree_records(root: Path) -> list[dict[str, str]] | None:
    """``git worktree list --porcelain`` as one dict per entry (``worktree``, ``branch``,
    ``bare``, ``prunable``, ...); None when ``root`` is not in a git repository."""
    output = git_output(root, "worktree", "list", "--porcelain")
    if output is None:
        return None
    records = []
    for block in output.strip().split("\n\n"):
        fields = dict(line.partition(" ")[::2] for line in block.splitlines())
        if "worktree" in fields:
            records.append(fields)
    return records


def git_worktrees(root: Path) -> list[Path]:
    """The worktrees of the git repository holding ``root`` (empty when not in git)."""
    return [Path(record["worktree"]) for record in git_worktree_records(root) or []]
