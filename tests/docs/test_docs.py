"""The documentation's commands and quoted output lines are true: every command line of every
fenced ``sh`` block and every quoted output line (`` `drift: …` ``, `` `would run: …` ``) in
README.md and docs/*.md is either run here, in a copy of examples/hello-workspace with a
temporary HOME, and its output compared, or listed in NOT_RUNNABLE with why. A new command or
quoted line in the docs fails this test until it is run or listed; a listed one that left the
docs fails it too, so the table cannot go stale."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import EXAMPLE, REPO

DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
# An output line as the docs quote it in prose or tables.
QUOTED_OUTPUT = re.compile(r"`((?:drift|would run|ok|up to date|buildkit: error): [^`]*)`")

# Commands run in order in the example's copy, each expected to exit 0, and what its output
# (stdout and stderr together) must contain.
RUN: dict[str, str] = {
    "buildkit init": "created: buildkit.yaml",
    "scripts/cq build": "Finished",
    "cq build": "Finished",
    "cq cargo test": "test result: ok",
    "cq --locked clippy": "Finished",
    "cq metadata --format-version 1": '"workspace_members"',
    "cq status": "admission: ",
    "cq status --json": '"admission": ',
    "buildkit render --diff": "up to date",
    "buildkit check": "ok: ",
    "buildkit doctor": "",
}

NOT_RUNNABLE: dict[str, str] = {
    "sh dev/demo.sh": "installs buildkit into a venv: what this suite runs in",
    "sh dev/test.sh": "the whole gate, which runs this test",
    "pip install .": "installing: the suite runs from this checkout's install",
    "pip install 'buildkit-rs @ git+https://HOST/OWNER/buildkit@COMMIT'": "a placeholder URL",
    "pip install 'buildkit-rs[machine]'": "needs the package index (network)",
    "cd your-cargo-workspace": "a placeholder; the run happens in the example's copy",
    "cd your-repository": "a placeholder; the run happens in the example's copy",
    "buildkit provision": "changes this machine's home (tests/machine run it in containers)",
    "buildkit provision --check --diff": "tests/machine run provision in containers",
    "python3 dev/refresh-action-pins.py --check": "asks GitHub for releases (network)",
    "python3 dev/refresh-action-pins.py": "rewrites ci/pins.yaml from GitHub (network)",
    "cq test -p server": "names a package of an imaginary workspace",
    "cq +nightly check": "needs a nightly toolchain, which nothing here installs",
    "cq exec CMD [ARGS...]": "a synopsis (tests/cq run `cq exec`)",
    "buildkit worktree add NAME [--base REF]": (
        "a synopsis (tests/agents/test_worktree_hooks.py runs it)"
    ),
    "buildkit worktree remove PATH": "a synopsis (tests/agents/test_worktree_hooks.py runs it)",
    "cq kill": "needs a holder (tests/cq/test_cq_queue.py::test_cq_kill_stops_the_holders_group)",
    "buildkit doctor [PATH] [--json] [--progress] [--kill-orphans]": "a synopsis",
    "buildkit gc [PATH] [--dry-run] [--keep N] [--older-than DURATION] [--max-size SIZE] "
    "[--no-queue] [--json] [--progress]": "a synopsis",
    "ansible-playbook -i inventory.ini playbooks/laptop.yml -e buildkit_profile=../our-repo "
    "--check --diff": "needs an inventory of hosts over ssh (tests/machine/test_fleet.py)",
    "ansible-playbook -i inventory.ini playbooks/laptop.yml -e buildkit_profile=../our-repo": (
        "needs an inventory of hosts over ssh (tests/machine/test_fleet.py)"
    ),
    "ansible-galaxy collection build": "tests/machine build the collection",
    "ansible-galaxy collection install buildkit-machine-0.1.0.tar.gz": "installs into ~/.ansible",
    "ansible-playbook -i inventory.ini buildkit.machine.laptop -e buildkit_profile=../our-repo": (
        "needs an inventory of hosts over ssh and the installed collection"
    ),
    # Quoted output lines, each produced and compared by the test named.
    "drift: hakari: workspace-hack/Cargo.toml is out of date (the diff below)": (
        "tests/hakari/test_hakari.py::test_check_names_generate_diff_when_the_hack_is_stale"
    ),
    "drift: hakari: members' workspace-hack dependencies are out of date (the changes below)": (
        "tests/hakari/test_hakari.py::test_check_names_hakari_when_a_member_lost_the_dependency"
    ),
    "drift: hakari: cargo hakari verify failed (exit 1)": (
        "a workspace-hack that does not unify needs a hand-broken crate hakari regenerates "
        "first; tests/hakari/test_hakari.py checks `verify` passes"
    ),
    "drift: hakari: workspace-hack/Cargo.toml is missing": (
        "tests/hakari/test_hakari.py::test_check_says_the_crate_is_missing_as_the_docs_quote_it"
    ),
}

# Quoted lines whose form (a prefix, … for the rest) this test produces and compares itself.
QUOTED_RUN = {"would run: hakari: …": "would run: hakari: "}


def documented() -> tuple[list[str], list[str]]:
    """Every command line of the sh blocks, and every quoted output line, in doc order."""
    commands: list[str] = []
    quoted: list[str] = []
    for doc in DOCS:
        text = doc.read_text(encoding="utf-8")
        for block in re.findall(r"^```sh\n(.*?)^```", text, re.M | re.S):
            for line in block.splitlines():
                command = re.split(r"\s+#\s", line, maxsplit=1)[0].strip()
                if command and command not in commands:
                    commands.append(command)
        for line in QUOTED_OUTPUT.findall(text):
            if line not in quoted:
                quoted.append(line)
    return commands, quoted


def test_every_command_and_quoted_line_is_run_or_listed() -> None:
    commands, quoted = documented()
    known = RUN.keys() | NOT_RUNNABLE.keys() | QUOTED_RUN.keys()
    unlisted = [c for c in [*commands, *quoted] if c not in known]
    assert unlisted == [], "run these in test_documented_commands_run, or list them with why"
    stale = sorted(known - set(commands) - set(quoted))
    assert stale == [], "no longer in the docs: remove them from the tables"


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The example's copy, a temporary HOME (cargo's registry stays the machine's: the example
    has no dependencies) and `cq` on PATH as direnv would put it."""
    root = Path(shutil.copytree(EXAMPLE, tmp_path / "hello-workspace"))
    home = tmp_path / "home"
    home.mkdir()
    if "CARGO_HOME" not in os.environ:
        monkeypatch.setenv("CARGO_HOME", str(Path.home() / ".cargo"))
    if "RUSTUP_HOME" not in os.environ:
        monkeypatch.setenv("RUSTUP_HOME", str(Path.home() / ".rustup"))
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "cq").symlink_to(root / "scripts" / "cq")
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    return root


def test_documented_commands_run(workspace: Path) -> None:
    for command, expected in RUN.items():
        ran = subprocess.run(
            ["sh", "-c", command], cwd=workspace, capture_output=True, text=True, check=False
        )
        output = ran.stdout + ran.stderr
        assert ran.returncode == 0, f"{command}: exit {ran.returncode}\n{output}"
        assert expected in output, f"{command}: no {expected!r} in its output\n{output}"
    # `would run: hakari: …` (docs/hakari.md): a dry run once a member lost its dependency.
    manifest = workspace / "crates" / "greet" / "Cargo.toml"
    lines = manifest.read_text().splitlines(keepends=True)
    manifest.write_text("".join(ln for ln in lines if not ln.startswith("workspace-hack")))
    ran = subprocess.run(
        ["buildkit", "render", "--dry-run"], cwd=workspace, capture_output=True, text=True
    )
    assert ran.returncode == 0, ran.stderr
    assert QUOTED_RUN["would run: hakari: …"] in ran.stdout, ran.stdout + ran.stderr
