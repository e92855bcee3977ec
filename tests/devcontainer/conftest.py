"""Docker and devcontainer CLI fixtures: a local Rust image, and cleanup of what a test created.

No image registry is reachable, so nothing may pull. The image the generated Dockerfile builds
on is made locally: the debootstrap base of dev/setup.d/50-docker.sh plus the machine's own Rust
toolchain and cargo-hakari, laid out as in the official Rust devcontainer image (CARGO_HOME
/usr/local/cargo, a `vscode` user with uid 1000 and passwordless sudo, the remote user named in
the `devcontainer.metadata` label). It is tagged by toolchain and cargo-hakari version and kept
between sessions, like the base image; everything a test's `devcontainer up` creates is removed.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import shutil
import subprocess
import tarfile
from collections.abc import Iterator
from pathlib import Path

import docker
import docker.errors
import pytest

from devcontainer.devcontainer_helpers import BASE_IMAGE, REPO, Devcontainer

RUST_DOCKERFILE = """\
FROM {base}
COPY rust/ /usr/local/rust/
COPY cargo-hakari /usr/local/cargo/bin/cargo-hakari
RUN groupadd --system rustlang \\
 && useradd --create-home --uid 1000 --shell /bin/bash --groups rustlang vscode \\
 && echo 'vscode ALL=(root) NOPASSWD:ALL' > /etc/sudoers.d/vscode \\
 && chmod 0440 /etc/sudoers.d/vscode \\
 && chown -R root:rustlang /usr/local/cargo && chmod -R g+ws /usr/local/cargo
ENV CARGO_HOME=/usr/local/cargo \\
    PATH=/usr/local/cargo/bin:/usr/local/rust/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
LABEL devcontainer.metadata='[{{"remoteUser": "vscode"}}]'
"""


def _run(*args: str) -> str:
    return subprocess.run(args, capture_output=True, text=True, check=True).stdout.strip()


@pytest.fixture(scope="session")
def docker_client() -> docker.DockerClient:
    """The docker engine; a missing engine fails the test (dev/setup.d/50-docker.sh starts it)."""
    try:
        client = docker.from_env()
        client.ping()
    except docker.errors.DockerException as exc:
        pytest.fail(f"no docker engine ({exc}); start one with `. dev/setup.d/50-docker.sh`")
    try:
        client.images.get(BASE_IMAGE)
    except docker.errors.ImageNotFound:
        pytest.fail(f"the local base image {BASE_IMAGE} is missing; run dev/setup.d/50-docker.sh")
    return client


@pytest.fixture(scope="session")
def devcontainer_cli() -> Path:
    """The pinned @devcontainers/cli that dev/setup.d/60-devcontainer-cli.sh installs."""
    override = os.environ.get("BUILDKIT_DEVCONTAINER_CLI")
    cli = Path(override) if override else REPO / ".tools/devcontainer-cli/node_modules/.bin"
    cli = cli / "devcontainer" if cli.is_dir() else cli
    if not cli.is_file():
        pytest.fail(f"no devcontainer CLI at {cli}; run dev/setup.d/60-devcontainer-cli.sh")
    return cli


def _toolchain_tar(sysroot: Path, hakari: Path, dockerfile: str) -> io.BytesIO:
    """The build context: only what compiling needs (cargo, rustc, rustdoc, lib/), no docs."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        data = dockerfile.encode()
        info = tarfile.TarInfo("Dockerfile")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
        for name in ("cargo", "rustc", "rustdoc"):
            tar.add(sysroot / "bin" / name, arcname=f"rust/bin/{name}")
        tar.add(sysroot / "lib", arcname="rust/lib")
        tar.add(hakari, arcname="cargo-hakari")
    buffer.seek(0)
    return buffer


@pytest.fixture(scope="session")
def rust_image(docker_client: docker.DockerClient) -> str:
    """The local stand-in for the official Rust devcontainer image; built once, then reused."""
    sysroot = Path(_run("rustc", "--print", "sysroot"))
    rustc = _run("rustc", "--version").split()[1]
    hakari_bin = shutil.which("cargo-hakari")
    if hakari_bin is None:
        pytest.fail("cargo-hakari is not on PATH; run dev/setup.d/10-cargo-tools.sh")
    hakari = _run(hakari_bin, "hakari", "--version").split()[-1]
    base_id = docker_client.images.get(BASE_IMAGE).id
    dockerfile = RUST_DOCKERFILE.format(base=BASE_IMAGE)
    recipe = hashlib.sha256(f"{dockerfile}{base_id}".encode()).hexdigest()[:8]
    tag = f"buildkit-test/rust:{rustc}-hakari-{hakari}-{recipe}"
    with contextlib.suppress(docker.errors.ImageNotFound):
        docker_client.images.get(tag)
        return tag
    context = _toolchain_tar(sysroot, Path(hakari_bin), dockerfile)
    docker_client.images.build(fileobj=context, custom_context=True, tag=tag, rm=True, pull=False)
    return tag


# THIS WORKPLACE'S PROXY: the host reaches PyPI through a TLS-intercepting proxy whose CA the
# host trusts (its bundle) and no image does, so pip in a container cannot verify PyPI. A team
# behind such a proxy puts its CA into its images' trust store; this image does the same with
# the host's bundle (public certificates only). The Feature then verifies PyPI against the
# image's store, as it would anywhere: nothing disables verification.
HOST_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
WORKPLACE_CA_DOCKERFILE = """\
FROM {base}
COPY ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
"""


@pytest.fixture(scope="session")
def rust_image_trusting_the_proxy(docker_client: docker.DockerClient, rust_image: str) -> str:
    """The Rust stand-in image with the host's CA bundle as its trust store (see above)."""
    if not HOST_CA_BUNDLE.is_file():
        pytest.fail(f"no CA bundle at {HOST_CA_BUNDLE} to give the image (see the comment)")
    bundle = HOST_CA_BUNDLE.read_bytes()
    dockerfile = WORKPLACE_CA_DOCKERFILE.format(base=rust_image).encode()
    digest = hashlib.sha256(dockerfile + bundle).hexdigest()[:8]
    tag = f"buildkit-test/rust-workplace-ca:{digest}"
    with contextlib.suppress(docker.errors.ImageNotFound):
        docker_client.images.get(tag)
        return tag
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, data in (("Dockerfile", dockerfile), ("ca-certificates.crt", bundle)):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    buffer.seek(0)
    docker_client.images.build(fileobj=buffer, custom_context=True, tag=tag, rm=True, pull=False)
    return tag


@pytest.fixture
def devcontainer(
    devcontainer_cli: Path, docker_client: docker.DockerClient, tmp_path: Path
) -> Iterator[Devcontainer]:
    """A Devcontainer whose containers, volumes and images are removed afterwards, pass or fail.
    Point ``workspace`` at the folder to bring up; its name must be unique to this test."""
    before = {image.id for image in docker_client.images.list(all=True)}
    target = Devcontainer(
        cli=devcontainer_cli, workspace=tmp_path, client=docker_client, images_before=before
    )
    try:
        yield target
    finally:
        target.remove()
