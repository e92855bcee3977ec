"""Helpers shared by the devcontainer tests (a plain module: conftest holds only fixtures)."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import docker
import docker.errors
import jsonschema
from docker.models.containers import Container
from docker.models.images import Image

from conftest import run_buildkit

REPO = Path(__file__).resolve().parents[2]
SCHEMAS = REPO / "tests" / "schemas"
BASE_IMAGE = os.environ.get("BUILDKIT_TEST_IMAGE", "buildkit-test/bookworm:1")
LABEL = "org.buildkit.test"  # on every container a test starts, with a per-test token
# What the devcontainer CLI puts in every image it builds, and the Feature content image it tags.
CLI_MARKS = ("_DEV_CONTAINERS_BASE_IMAGE", "/tmp/build-features", "/tmp/dev-container-features")
FEATURE_CONTENT_IMAGE = "dev_container_feature_content_temp"
PROBE = "BUILDKIT_PROBE"
PROBE_VALUE = 'in effect: it\'s "quoted" & spaced'


def strip_header(text: str) -> str:
    """The JSON under buildkit's `//` header (the only comments buildkit writes)."""
    lines = text.split("\n")
    while lines and lines[0].startswith("//"):
        lines.pop(0)
    return "\n".join(lines)


def load_jsonc(path: Path) -> Any:
    return json.loads(strip_header(path.read_text(encoding="utf-8")))


def schema_errors(instance: Any, schema_file: str) -> list[str]:
    schema = json.loads((SCHEMAS / schema_file).read_text(encoding="utf-8"))
    validator_class = jsonschema.validators.validator_for(schema)
    validator = validator_class(schema)
    return [
        f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
        for e in validator.iter_errors(instance)
    ]


def init_with(workspace: Path, extra_profile: str) -> None:
    """`buildkit init`, then extra top-level profile sections, then `buildkit render`."""
    ran = run_buildkit("init", workspace, "--yes")
    assert ran.exit_code == 0, ran.stdout + ran.stderr
    profile = workspace / "buildkit.yaml"
    profile.write_text(profile.read_text(encoding="utf-8") + extra_profile, encoding="utf-8")
    ran = run_buildkit("render", workspace)
    assert ran.exit_code == 0, ran.stdout + ran.stderr


def probe_env() -> str:
    return f"env:\n  vars:\n    {PROBE}: {json.dumps(PROBE_VALUE)}\n"


def give_to_container_user(root: Path) -> None:
    """Files as a host user with uid 1000 would have them. On Linux the devcontainer CLI gives
    the image's remote user (vscode, 1000) the local user's uid; as root there is nothing to
    map to, so the test hands the copied workspace to uid 1000 instead."""
    if os.geteuid() != 0:
        return
    for folder, dirs, files in os.walk(root):
        os.chown(folder, 1000, 1000)
        for name in dirs + files:
            os.lchown(Path(folder) / name, 1000, 1000)


@dataclass
class Devcontainer:
    """One `devcontainer up` target: the CLI, the workspace, and the labels that find it again."""

    cli: Path
    workspace: Path
    client: docker.DockerClient
    token: str = field(default_factory=lambda: secrets.token_hex(4))
    env: dict[str, str] = field(default_factory=dict)
    images_before: set[str] = field(default_factory=set)  # image ids before the test began
    output: str = ""  # the last CLI command's stdout and stderr (the build log is in it)

    @property
    def id_label(self) -> str:
        return f"{LABEL}={self.token}"

    def _command(self, *args: str) -> list[str]:
        return [
            str(self.cli),
            *args,
            "--workspace-folder",
            str(self.workspace),
            "--id-label",
            self.id_label,
        ]

    def up(self) -> dict[str, str]:
        return self._run_json("up", self._command("up"))

    def build(self) -> str:
        """`devcontainer build` only (no container); returns the image name, removed afterwards."""
        image = f"vsc-{self.workspace.name.lower()}-built"
        command = ["build", "--workspace-folder", str(self.workspace), "--image-name", image]
        self._run_json("build", [str(self.cli), *command])
        return image

    def _run_json(self, what: str, command: list[str]) -> dict[str, str]:
        """Run a CLI command with JSON logs; its final result, or an error with the output."""
        run = subprocess.run(
            [*command, "--log-format", "json"],
            capture_output=True,
            text=True,
            env=self._environment(),
            check=False,
        )
        self.output = run.stdout + run.stderr
        result = _last_json(run.stdout)
        if run.returncode != 0 or result.get("outcome") != "success":
            raise AssertionError(
                f"devcontainer {what} failed ({run.returncode}): {result}\n{run.stderr[-4000:]}"
            )
        return result

    def _environment(self) -> dict[str, str]:
        """The test's environment over this process's; an empty value unsets the variable."""
        merged = {**os.environ, **self.env}
        return {name: value for name, value in merged.items() if value != ""}

    def exec(self, *command: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*self._command("exec"), *command],
            capture_output=True,
            text=True,
            env=self._environment(),
            check=False,
        )

    def containers(self) -> list[Container]:
        return list(self.client.containers.list(all=True, filters={"label": self.id_label}))

    def remove(self) -> None:
        """Remove the containers, their named volumes and the images the CLI built for them."""
        volumes: set[str] = set()
        images: set[str] = set()
        for container in self.containers():
            volumes.update(
                m["Name"] for m in container.attrs["Mounts"] if m.get("Type") == "volume"
            )
            images.add(container.attrs["Image"])
            container.remove(force=True)
        # A build step that failed leaves its stopped container on the CLI's new image.
        for container in self.client.containers.list(all=True, filters={"status": "exited"}):
            image_id = container.attrs["Image"]
            with contextlib.suppress(docker.errors.ImageNotFound):
                if image_id not in self.images_before and _built_by_the_cli(
                    self.client.images.get(image_id)
                ):
                    container.remove(force=True)
        prefix = f"vsc-{self.workspace.name.lower()}-"
        for image in self.client.images.list():
            if any(t.startswith(prefix) for t in image.tags):
                images.add(image.id)
        for volume in volumes:
            with contextlib.suppress(docker.errors.NotFound):
                self.client.volumes.get(volume).remove(force=True)
        # Newest first: an image the CLI derived from another (the `-uid` one) goes before it.
        self._remove_images(images)
        # Building Features, the CLI also leaves a `dev_container_feature_content_temp` image and
        # the untagged images of its build stages: those that are new and carry its marks go.
        for _ in range(3):
            leftovers = [
                image.id
                for image in self.client.images.list(filters={"dangling": True})
                + self.client.images.list(name=FEATURE_CONTENT_IMAGE)
                if image.id not in self.images_before and _built_by_the_cli(image)
            ]
            if not leftovers:
                break
            self._remove_images(set(leftovers))

    def _remove_images(self, ids: set[str]) -> None:
        found = []
        for image_id in ids:
            with contextlib.suppress(docker.errors.ImageNotFound):
                found.append(self.client.images.get(image_id))
        for image in sorted(found, key=lambda i: str(i.attrs["Created"]), reverse=True):
            with contextlib.suppress(docker.errors.ImageNotFound, docker.errors.APIError):
                self.client.images.remove(image.id, force=True)


def _built_by_the_cli(image: Image) -> bool:
    steps = " ".join(str(layer.get("CreatedBy", "")) for layer in image.history())
    return any(mark in steps for mark in CLI_MARKS)


def _last_json(stdout: str) -> dict[str, str]:
    for line in reversed(stdout.strip().splitlines()):
        with contextlib.suppress(ValueError):
            value = json.loads(line)
            if isinstance(value, dict) and "outcome" in value:
                return value
    return {}
