"""The library behind ``buildkit provision``: apply a profile to this machine with ansible.

The user's home is one more destination of the render pipeline (``render/home.py``): its files
are computed and compared with the disk by the same code as a repository's, under the same
ownership rules, so a hand edit of buildkit's part is refused (exit 1) unless ``--force``. Then
``playbooks/laptop.yml`` (role ``buildkit_machine``) runs on this machine with the profile and
this machine's facts; the role's action plugin computes the same files with the same code
(``fleet.py``, as for every host of a fleet), writes them, and does what needs ansible:
packages with privilege and cargo-hakari. ansible runs in this Python (``python -m ansible
playbook``); its output streams through as it comes, and the PLAY RECAP is parsed for the
result.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from buildkit.errors import BadInput, CheckFailed, EnvironmentProblem
from buildkit.pins import pinned_tool
from buildkit.profile import Profile, load_profile
from buildkit.project import ConflictError
from buildkit.render import home
from buildkit.render.apply import Change, Status
from buildkit.resources import data_dir

PLAYBOOK = "laptop.yml"
MISSING_ANSIBLE = (
    "ansible-core is not installed next to buildkit (ansible-playbook is missing); "
    "install it with: pip install 'buildkit-rs[machine]'"
)
_RECAP = re.compile(r"^(?P<host>\S+)\s*:\s*(?P<counts>(?:\w+=\d+\s*)+)$")
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


@dataclass(frozen=True)
class Recap:
    """One host's line of ansible's PLAY RECAP."""

    ok: int = 0
    changed: int = 0
    unreachable: int = 0
    failed: int = 0
    skipped: int = 0
    rescued: int = 0
    ignored: int = 0


@dataclass(frozen=True)
class ProvisionResult:
    returncode: int
    recap: Recap | None
    check: bool


def ansible_available() -> bool:
    """ansible-core importable by this Python (the ``machine`` extra).

    Looked up without importing it: importing ``ansible.cli`` already sets up ansible's
    configuration and temp dir in the user's HOME.
    """
    spec = importlib.util.find_spec("ansible")
    locations = list(spec.submodule_search_locations or []) if spec else []
    return any((Path(where) / "cli" / "playbook.py").is_file() for where in locations)


def home_changes(profile: Profile, machine: home.Machine) -> list[Change]:
    """What provisioning would do to each of buildkit's files in this user's home: the same
    function the role's action plugin runs for a host, with this machine's files."""
    paths = [artifact.path for artifact in home.artifacts(profile, machine)]
    return home.changes(profile, machine, home.read_local(paths))


def playbook_vars(root: Path, machine: home.Machine, *, force: bool) -> dict[str, Any]:
    """The playbook's variables: the profile, and this machine's facts exactly as the
    pre-check above saw them, so the role's plugin computes the same files."""
    return {
        "buildkit_profile": str(root),
        "buildkit_machine_force": force,
        "buildkit_machine_system": machine.system,
        "buildkit_machine_home": str(machine.home),
        "buildkit_machine_cargo_home": str(machine.cargo_home),
        "buildkit_machine_login_shell": machine.login_shell,
        "buildkit_machine_data_home": str(machine.data_home or ""),
        "buildkit_machine_hakari_version": pinned_tool("cargo-hakari"),
        # modules run with this Python: no interpreter discovery, no warning about it
        "ansible_python_interpreter": sys.executable,
    }


def parse_recaps(lines: list[str]) -> dict[str, Recap]:
    """Each host's counts in the last PLAY RECAP of ansible's output."""
    recaps: dict[str, Recap] = {}
    in_recap = False
    for raw in lines:
        line = _ANSI.sub("", raw).strip()
        if line.startswith("PLAY RECAP"):
            in_recap, recaps = True, {}
            continue
        match = _RECAP.match(line) if in_recap else None
        if match:
            counts = dict(part.split("=") for part in match.group("counts").split())
            known = set(Recap.__dataclass_fields__)
            recap = Recap(**{k: int(v) for k, v in counts.items() if k in known})
            recaps[match.group("host")] = recap
    return recaps


def parse_recap(lines: list[str]) -> Recap | None:
    """The counts of the (single) host in the last PLAY RECAP of ansible's output."""
    recaps = parse_recaps(lines)
    return list(recaps.values())[-1] if recaps else None


def run_provision(
    path: Path,
    *,
    check: bool = False,
    diff: bool = False,
    force: bool = False,
    system: str | None = None,
    login_shell: str | None = None,
    extra_vars: Mapping[str, Any] | None = None,
    out: Callable[[str], object] | None = None,
) -> ProvisionResult:
    """Run the laptop playbook on this machine with ``PATH/buildkit.yaml`` as its variables.

    ``system`` overrides ``platform.system()`` and ``login_shell`` the user's login shell (the
    tests simulate macOS with them). The files are computed twice with the same code: here,
    to refuse a hand edit before ansible starts, and by the role's action plugin. Raises
    ConflictError when the user edited buildkit's part of a file and ``force`` is off, and
    CheckFailed when ``check`` finds changes to make (both exit 1), EnvironmentProblem when
    ansible is missing or the play fails (exit 2).
    """
    root = path.expanduser().resolve()
    if not root.is_dir():
        raise BadInput(f"{path}: not a directory; pass the repository that has buildkit.yaml")
    profile = load_profile(root)
    if not ansible_available():
        raise EnvironmentProblem(MISSING_ANSIBLE)
    machine = home.Machine.this(system, login_shell=login_shell)
    changes = home_changes(profile, machine)
    conflicts = [c for c in changes if c.status is Status.CONFLICT]
    if conflicts and not force:
        raise ConflictError(conflicts)
    emit = out or _stdout
    if diff:
        for change in changes:
            if change.status is not Status.UNCHANGED:
                emit(change.diff())
    variables = {
        **playbook_vars(root, machine, force=force),
        **({"buildkit_machine_os_family": "Darwin"} if machine.system == "Darwin" else {}),
        **(extra_vars or {}),
    }

    private = Path(tempfile.mkdtemp(prefix="buildkit-provision-"))  # 0700, unpredictable name
    try:
        vars_file = private / "vars.json"
        fd = os.open(vars_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(variables, handle)
        config = private / "ansible.cfg"
        config.write_text("# buildkit provision: ansible's defaults only\n", encoding="utf-8")
        command = [
            sys.executable,
            "-m",
            "ansible",
            "playbook",
            "-i",
            "localhost,",
            "-c",
            "local",
            str(data_dir("playbooks") / PLAYBOOK),
            "-e",
            f"@{vars_file}",
        ]
        command += ["--check"] if check else []
        returncode, lines = _stream(command, _ansible_env(private), cwd=private, out=emit)
    finally:
        shutil.rmtree(private, ignore_errors=True)

    recap = parse_recap(lines)
    if returncode != 0:
        failed = f", failed={recap.failed}" if recap else ""
        raise EnvironmentProblem(
            f"ansible-playbook {PLAYBOOK} failed (exit {returncode}{failed}); the failing "
            "task's message is above; fix that, then run `buildkit provision` again"
        )
    if recap is None:
        raise EnvironmentProblem(
            f"ansible-playbook {PLAYBOOK} printed no PLAY RECAP; run it again with --debug"
        )
    if check and recap.changed:
        raise CheckFailed(
            f"{root / 'buildkit.yaml'}: this machine differs from the machine section in "
            f"{recap.changed} task(s); run `buildkit provision` without --check to apply them"
        )
    return ProvisionResult(returncode=returncode, recap=recap, check=check)


def _stdout(line: str) -> None:
    sys.stdout.write(line)
    sys.stdout.flush()


def _ansible_env(private: Path) -> dict[str, str]:
    """ansible's state (temp files, caches) in the private dir, never in the user's HOME; an
    empty ansible.cfg so a project's or the user's ansible settings cannot change the play."""
    env = dict(os.environ)
    env.update(
        {
            "ANSIBLE_CONFIG": str(private / "ansible.cfg"),
            "ANSIBLE_HOME": str(private / "ansible-home"),
            "ANSIBLE_LOCAL_TEMP": str(private / "local-tmp"),
            "ANSIBLE_REMOTE_TEMP": str(private / "remote-tmp"),
            "ANSIBLE_ROLES_PATH": str(data_dir("roles")),
            "ANSIBLE_ACTION_PLUGINS": str(data_dir("plugins") / "action"),
            "ANSIBLE_LIBRARY": str(data_dir("plugins") / "modules"),
            "ANSIBLE_RETRY_FILES_ENABLED": "false",
            "PYTHONUNBUFFERED": "1",
        }
    )
    if sys.stdout.isatty():
        env.setdefault("ANSIBLE_FORCE_COLOR", "1")
    return env


def _stream(
    command: list[str], env: dict[str, str], *, cwd: Path, out: Callable[[str], object]
) -> tuple[int, list[str]]:
    lines: list[str] = []
    with subprocess.Popen(
        command,
        env=env,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        bufsize=1,
    ) as proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            out(line)
    return proc.returncode, lines
