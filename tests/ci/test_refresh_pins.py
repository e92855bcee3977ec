"""dev/refresh-action-pins.py against a stand-in `git` (github.com is not reachable here)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

from conftest import REPO

SCRIPT = REPO / "dev" / "refresh-action-pins.py"
PINS = REPO / "ci" / "pins.yaml"

# What `git ls-remote URL PATTERN` prints, per repository; the pattern filter is applied below.
LS_REMOTE = {
    "actions/checkout": [
        ("1" * 40, "refs/tags/v6"),
        ("2" * 40, "refs/tags/v6.0.10"),  # annotated: the tag object ...
        ("3" * 40, "refs/tags/v6.0.10^{}"),  # ... and the commit it points to
        ("4" * 40, "refs/tags/v6.0.9"),
        ("5" * 40, "refs/tags/v6.1.0-beta.1"),
    ],
    "dtolnay/rust-toolchain": [("6" * 40, "refs/heads/master")],
}

FAKE_GIT = """\
#!{python}
import fnmatch, json, sys
table = json.loads({table!r})
url, pattern = sys.argv[-2], sys.argv[-1]
repo = url.removeprefix("https://github.com/")
if repo not in table:
    sys.exit("fatal: unable to access '" + url + "': Could not resolve host: github.com")
for sha, ref in table[repo]:
    if fnmatch.fnmatch(ref.removesuffix("^{{}}"), pattern):
        print(sha + "\\t" + ref)
"""


def fake_git(tmp_path: Path, table: dict[str, list[tuple[str, str]]]) -> dict[str, str]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    git = bin_dir / "git"
    git.write_text(FAKE_GIT.format(python=sys.executable, table=json.dumps(table)))
    git.chmod(0o755)
    return {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}


def refresh(pins: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), "--pins", str(pins), *args],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=60,
    )


def remote_table() -> dict[str, list[tuple[str, str]]]:
    """Every pinned action's current pin as GitHub would list it; two of them have moved on."""
    table: dict[str, list[tuple[str, str]]] = {}
    for action, entry in yaml.safe_load(PINS.read_text())["actions"].items():
        kind = "heads" if entry["kind"] == "branch" else "tags"
        table[action] = [(entry["sha"], f"refs/{kind}/{entry['ref']}")]
    table.update(LS_REMOTE)
    return table


def test_refresh_takes_the_newest_release_commit_and_keeps_the_rest(tmp_path: Path) -> None:
    pins = tmp_path / "pins.yaml"
    shutil.copy(PINS, pins)
    before = pins.read_text()
    env = fake_git(tmp_path, remote_table())
    check = refresh(pins, env, "--check")
    assert check.returncode == 1, check.stdout + check.stderr
    assert pins.read_text() == before
    done = refresh(pins, env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "updated: actions/checkout v6.0.2 -> v6.0.10" in done.stdout
    after = yaml.safe_load(pins.read_text())["actions"]
    # v6.0.10 > v6.0.9 (numeric, not text order); the annotated tag's commit, not the tag object.
    assert after["actions/checkout"]["sha"] == "3" * 40
    assert after["actions/checkout"]["ref"] == "v6.0.10"
    assert after["actions/checkout"]["source"].startswith("git ls-remote https://github.com/")
    assert after["dtolnay/rust-toolchain"]["sha"] == "6" * 40
    assert after["dtolnay/rust-toolchain"]["ref"] == "master"
    assert "up to date: Swatinem/rust-cache" in done.stdout
    # Only the two moved entries' sha/ref/source lines changed; comments and the rest stay.
    old, new = before.splitlines(), pins.read_text().splitlines()
    changed = [line for line in new if line not in old]
    assert len(changed) == 5, changed  # checkout: sha, ref, source; the branch: sha, source
    assert all(line.lstrip().startswith(("sha:", "ref:", "source:")) for line in changed)
    assert refresh(pins, env, "--check").returncode == 0


def test_refresh_fails_clearly_and_changes_nothing_without_github(tmp_path: Path) -> None:
    pins = tmp_path / "pins.yaml"
    shutil.copy(PINS, pins)
    env = fake_git(tmp_path, {})  # every repository: "Could not resolve host: github.com"
    done = refresh(pins, env)
    assert done.returncode == 2
    assert "cannot reach GitHub" in done.stderr and "is unchanged" in done.stderr
    assert "Could not resolve host" in done.stderr
    assert pins.read_text() == PINS.read_text()
