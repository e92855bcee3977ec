"""The laptop playbook in a fresh Debian container, twice: the second run changes nothing.

How ansible gets in: ansible-core has no docker connection without a collection, so ansible
runs INSIDE the container with the local connection, as `buildkit provision` does on a laptop.
Its code is this checkout and this venv's site-packages, mounted read-only (same Python minor
as bookworm's python3, manylinux wheels): no PyPI download per run. The Rust toolchain cannot
be downloaded in a container, so the machine's rustup toolchain and its cargo-hakari binary
are mounted read-only too: the role finds cargo-hakari present (its install is skipped) and
`cq build` builds the example with the mold linker the role installed from Debian's packages
(root in the container, so `become` works there).
"""

from __future__ import annotations

import os
import shutil
import sys
import sysconfig
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker
import pytest
from docker.models.containers import Container

from buildkit.provision import Recap, parse_recap
from conftest import REPO
from machine.machine_helpers import CARGO_BIN, REAL_CARGO_HOME, RUSTUP_HOME, write_profile

IMAGE = os.environ.get("BUILDKIT_TEST_IMAGE", "buildkit-test/bookworm:1")
SITE = sysconfig.get_paths()["purelib"]
ENV = {
    "HOME": "/root",
    "PYTHONPATH": "/opt/buildkit/src:/opt/site-packages",
    "RUSTUP_HOME": "/opt/rust/rustup",
    "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:/opt/rust/cargo-bin",
}


@pytest.fixture
def container(tmp_path: Path, example: Path) -> Iterator[Container]:
    client = docker.from_env()  # no engine: this fails, it does not skip (dev/setup.d/50-docker.sh)
    client.ping()
    try:
        client.images.get(IMAGE)
    except docker.errors.ImageNotFound:
        pytest.fail(f"the local image {IMAGE} is missing; run dev/setup.d/50-docker.sh")
    assert CARGO_BIN is not None
    write_profile(example, linker="mold")
    workspace = Path(shutil.copytree(example, tmp_path / "ws"))
    mounts: dict[str, dict[str, str]] = {
        str(REPO): {"bind": "/opt/buildkit", "mode": "ro"},
        SITE: {"bind": "/opt/site-packages", "mode": "ro"},
        str(RUSTUP_HOME): {"bind": "/opt/rust/rustup", "mode": "ro"},
        str(CARGO_BIN): {"bind": "/opt/rust/cargo-bin", "mode": "ro"},
        str(REAL_CARGO_HOME / "bin" / "cargo-hakari"): {
            "bind": "/root/.cargo/bin/cargo-hakari",
            "mode": "ro",
        },
        str(workspace): {"bind": "/work/ws", "mode": "rw"},
    }
    box = client.containers.run(
        IMAGE,
        ["sleep", "infinity"],
        detach=True,
        volumes=mounts,
        environment=ENV,
        labels={"buildkit-test": "machine"},
    )
    try:
        # The mounted site-packages hold compiled wheels for this Python's minor version.
        code, version = run(box, ["python3", "-c", "import sys; print(sys.version_info[:2])"])
        if code != 0 or version.strip() != str(sys.version_info[:2]):
            pytest.fail(
                f"{IMAGE} has python3 {version.strip()}, the tests run on "
                f"{sys.version_info[:2]}: the venv mounted into the container needs the same "
                "minor version (use Python 3.11, bookworm's, for the test venv)"
            )
        yield box
    finally:
        box.remove(force=True)


def run(box: Container, command: list[str], **kwargs: Any) -> tuple[int, str]:
    code, output = box.exec_run(command, environment=ENV, **kwargs)
    return code, output.decode("utf-8", "replace")


def provision(box: Container) -> tuple[int, str, Recap]:
    code, output = run(box, ["python3", "-m", "buildkit", "provision", "/work/ws"])
    recap = parse_recap(output.splitlines())
    assert recap is not None, output
    return code, output, recap


@pytest.mark.slow
@pytest.mark.docker
def test_playbook_in_a_fresh_debian_container_twice(container: Container, tmp_path: Path) -> None:
    workspace = tmp_path / "ws"
    code, output, recap = provision(container)
    assert code == 0, output
    assert recap.changed > 0 and recap.failed == 0
    assert "Install the fast linker from Debian's packages" in output

    code, output, recap = provision(container)
    assert code == 0, output
    assert recap.changed == 0, output

    # A login shell has cq and the env; cq builds with the linker the role selected.
    script = (
        'export PATH="$PATH:/opt/rust/cargo-bin"; cd /work/ws && cq build'
        " && printenv BUILDKIT_MACHINE_PROBE && readelf -p .comment target/debug/hello"
    )
    code, output = run(container, ["bash", "-lc", script])
    assert code == 0, output
    assert "hello from buildkit" in output
    assert "mold" in output  # the binary was linked by mold
    code, output = run(container, ["cat", "/root/.cargo/config.toml"])
    assert '"link-arg=-fuse-ld=mold"' in output and "machine.fast_linker" in output

    # machine.shell: zsh (macOS's shell; the image has a real one): its rc gets the block, and
    # an interactive zsh has cq and the env.
    profile = workspace / "buildkit.yaml"
    profile.write_text(profile.read_text() + "  shell: zsh\n")
    code, output, recap = provision(container)
    assert code == 0 and recap.changed == 1, output
    code, output = run(
        container, ["zsh", "-ic", 'command -v cq; printf "%s\\n" "$BUILDKIT_MACHINE_PROBE"']
    )
    assert code == 0, output
    assert output.splitlines()[-2:] == ["/root/.local/bin/cq", "hello from buildkit"], output
