"""cache.remote rendered into each destination: the wrapper, the repository's env file, the
devcontainer, a provisioned home; never a secret, and bad settings are one clear line."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from buildkit.pins import pinned_tool
from buildkit.profile import parse_profile
from buildkit.render import home
from buildkit.render.ownership import OwnedFile
from conftest import run_buildkit
from devcontainer.devcontainer_helpers import load_jsonc, schema_errors

SECRET = "hunter2-do-not-render"
TEAM = (
    "cache:\n"
    "  remote:\n"
    "    kind: redis\n"
    "    location: redis://cache.team.internal:6380/2\n"
    "    key_prefix: numbers\n"
    "    mode:\n"
    "      repository: read-only\n"
    "      laptops: read-write\n"
    "      devcontainer: off\n"
    "    credentials:\n"
    "      SCCACHE_REDIS_PASSWORD: TEAM_CACHE_PASSWORD\n"
)


def _init(example: Path, extra: str = TEAM) -> None:
    ran = run_buildkit("init", example, "--yes", "--no-probes")
    assert ran.exit_code == 0, ran.stderr
    profile = example / "buildkit.yaml"
    profile.write_text(profile.read_text(encoding="utf-8") + extra, encoding="utf-8")
    ran = run_buildkit("render", example)
    assert ran.exit_code == 0, ran.stderr


def _all_text(root: Path) -> str:
    return "\n".join(
        p.read_text(encoding="utf-8", errors="replace")
        for p in root.rglob("*")
        if p.is_file() and ".git" not in p.parts and "target" not in p.parts
    )


def _wrapper_env(root: Path, env: dict[str, str], shell: str) -> dict[str, str]:
    """The environment sccache gets from the wrapper: a stand-in sccache (a script that
    prints its environment) named by $BUILDKIT_SCCACHE, the documented override."""
    fake = root / "print-env"
    fake.write_text("#!/bin/sh\nenv\n")
    fake.chmod(0o755)
    done = subprocess.run(
        [
            str(shutil.which(shell)),
            str(root / ".config/buildkit/bin/rustc-wrapper"),
            "rustc",
            # a compile the cache can keep (others go straight to rustc)
            "--crate-type",
            "lib",
            "--emit=link",
            "lib.rs",
        ],
        env={**env, "BUILDKIT_SCCACHE": str(fake)},
        capture_output=True,
        text=True,
        check=True,
    )
    return dict(line.split("=", 1) for line in done.stdout.splitlines() if "=" in line)


@pytest.mark.parametrize("shell", ["dash", "bash"])
def test_the_wrapper_exports_the_remote_for_the_destinations_mode(
    example: Path, tmp_path: Path, shell: str
) -> None:
    _init(example)
    cache_dir = tmp_path / "c"
    base = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "BUILDKIT_CACHE_DIR": str(cache_dir),
        "TEAM_CACHE_PASSWORD": SECRET,
    }
    # the repository's default: read-only; the host does not resolve, so first the probe
    # sets the remote aside with one line, then the default mode is what the wrapper uses
    got = _wrapper_env(example, base, shell)
    assert "SCCACHE_MULTILEVEL_CHAIN" not in got
    assert got["SCCACHE_SERVER_UDS"] == str(cache_dir / "sock")
    (down,) = cache_dir.glob("remote-down-*")
    down.unlink()
    # with the check passing (no perl on PATH: the wrapper cannot check and trusts the store)
    no_perl = tmp_path / "bin"
    no_perl.mkdir()
    for tool in ("env", "mkdir"):
        (no_perl / tool).symlink_to(str(shutil.which(tool)))
    plain = {**base, "PATH": str(no_perl)}
    got = _wrapper_env(example, plain, shell)
    assert got["SCCACHE_MULTILEVEL_CHAIN"] == "disk,redis"
    assert got["SCCACHE_REDIS_ENDPOINT"] == "redis://cache.team.internal:6380/2"
    assert got["SCCACHE_REDIS_KEY_PREFIX"] == "numbers"
    assert got["SCCACHE_REDIS_RW_MODE"] == "READ_ONLY"
    assert got["SCCACHE_REDIS_PASSWORD"] == SECRET  # copied from the variable named
    assert got["SCCACHE_SERVER_UDS"].endswith("-ro")
    read_only_sock = got["SCCACHE_SERVER_UDS"]
    got = _wrapper_env(example, {**plain, "BUILDKIT_CACHE_REMOTE": "read-write"}, shell)
    assert got["SCCACHE_REDIS_RW_MODE"] == "READ_WRITE"
    assert got["SCCACHE_SERVER_UDS"] == read_only_sock.removesuffix("-ro") + "-rw"
    got = _wrapper_env(example, {**plain, "BUILDKIT_CACHE_REMOTE": "off"}, shell)
    assert "SCCACHE_REDIS_ENDPOINT" not in got and got["SCCACHE_SERVER_UDS"].endswith("/sock")
    # a setting of the user's own wins over the profile's
    mine = {**plain, "SCCACHE_REDIS_ENDPOINT": "redis://mine:1"}
    assert _wrapper_env(example, mine, shell)["SCCACHE_REDIS_ENDPOINT"] == "redis://mine:1"
    # another location is another server: sccache reads its config once, at start
    profile = example / "buildkit.yaml"
    profile.write_text(profile.read_text().replace(":6380/2", ":6381/2"))
    assert run_buildkit("render", example).exit_code == 0
    moved = _wrapper_env(example, plain, shell)["SCCACHE_SERVER_UDS"]
    assert moved.endswith("-ro") and moved != read_only_sock


def test_env_file_devcontainer_and_home_carry_the_modes_and_no_secret(
    example: Path, tmp_path: Path
) -> None:
    os.environ["TEAM_CACHE_PASSWORD"] = SECRET
    try:
        _init(example)
    finally:
        del os.environ["TEAM_CACHE_PASSWORD"]
    env_file = example / ".config/buildkit.env"
    shown = subprocess.run(
        ["dash", "-c", f'. "{env_file}"; echo "$BUILDKIT_CACHE_REMOTE"'],
        capture_output=True,
        text=True,
        check=True,
        env={"PATH": os.environ["PATH"]},
    )
    assert shown.stdout == "read-only\n"
    kept = subprocess.run(
        ["dash", "-c", f'. "{env_file}"; echo "$BUILDKIT_CACHE_REMOTE"'],
        capture_output=True,
        text=True,
        check=True,
        env={"PATH": os.environ["PATH"], "BUILDKIT_CACHE_REMOTE": "read-write"},
    )
    assert kept.stdout == "read-write\n"  # a machine's own mode wins
    assert "$TEAM_CACHE_PASSWORD" in env_file.read_text()

    config = load_jsonc(example / ".devcontainer/devcontainer.json")
    assert schema_errors(config, "devContainer.base.schema.json") == []
    assert config["containerEnv"]["BUILDKIT_CACHE_REMOTE"] == "off"
    assert config["remoteEnv"]["TEAM_CACHE_PASSWORD"] == "${localEnv:TEAM_CACHE_PASSWORD}"
    dockerfile = (example / ".devcontainer/Dockerfile").read_text()
    assert f"ARG SCCACHE_VERSION={pinned_tool('sccache')}\n" in dockerfile
    assert '"sccache==${SCCACHE_VERSION}"' in dockerfile

    profile = parse_profile(
        (example / "buildkit.yaml").read_text(), root=example, path=example / "buildkit.yaml"
    )
    machine = home.Machine(system="Linux", home=tmp_path / "h", cargo_home=tmp_path / "c")
    files = {a.path: a for a in home.artifacts(profile, machine)}
    laptop_env = files[str(tmp_path / "h" / home.ENV_FILE)]
    assert isinstance(laptop_env, OwnedFile)
    assert "export BUILDKIT_CACHE_REMOTE=read-write\n" in laptop_env.body
    assert SECRET not in _all_text(example) + laptop_env.body


@pytest.mark.parametrize(
    ("remote", "message"),
    [
        (
            "    kind: redis\n    location: redis://ops:" + SECRET + "@cache:6379\n",
            "cache.remote.location: has a user or password in it",
        ),
        (
            "    kind: s3\n    location: bucket\n    endpoint: https://k:" + SECRET + "@minio\n",
            "cache.remote.endpoint: has a user or password in it",
        ),
        ("    kind: redis\n", "cache.remote.location: empty; kind redis needs one"),
        ("    kind: redis\n    location: cache:6379\n", "expected a redis:// or rediss:// URL"),
        (
            "    kind: webdav\n    location: https://dav\n    credentials:\n"
            "      AWS_ACCESS_KEY_ID: KEY\n",
            "credentials.AWS_ACCESS_KEY_ID: not a credential of kind webdav",
        ),
        # kind gha: GitHub's cache is on a runner only; the key's own line, and the fix
        (
            "    kind: gha\n    mode:\n      ci: read-write\n      laptops: read-write\n",
            "buildkit.yaml:LINE: cache.remote.mode.laptops: kind gha (GitHub Actions' cache) "
            "is there only on a GitHub Actions runner, so only the workflow can use it; set "
            "this to off (or remove it)",
        ),
        (
            "    kind: gha\n    mode:\n      devcontainer: read-only\n",
            "buildkit.yaml:LINE: cache.remote.mode.devcontainer: kind gha",
        ),
        (
            "    kind: gha\n    mode:\n      repository: read-write\n",
            "buildkit.yaml:LINE: cache.remote.mode.repository: kind gha",
        ),
        (
            "    kind: gha\n    location: https://cache.example\n",
            "buildkit.yaml:LINE: cache.remote.location: kind gha takes no location",
        ),
        (
            "    kind: gha\n    credentials:\n      AWS_SECRET_ACCESS_KEY: " + SECRET + "\n",
            "cache.remote.credentials: kind gha takes no credentials",
        ),
    ],
)
def test_bad_remote_settings_are_one_line_without_the_secret(
    example: Path, remote: str, message: str
) -> None:
    ran = run_buildkit("init", example, "--yes", "--no-probes")
    assert ran.exit_code == 0, ran.stderr
    profile = example / "buildkit.yaml"
    before = {p: p.read_bytes() for p in example.rglob("*") if p.is_file()}
    text = profile.read_text() + "cache:\n  remote:\n" + remote
    profile.write_text(text)
    # the line of the key at fault: the last line of what was appended
    message = message.replace("LINE", str(text.count("\n")))
    ran = run_buildkit("render", example)
    assert ran.exit_code != 0
    assert message in ran.stderr, ran.stderr
    assert len(ran.stderr.strip().splitlines()) == 1, ran.stderr
    assert SECRET not in ran.stdout + ran.stderr
    assert "Traceback" not in ran.stderr
    after = {p: p.read_bytes() for p in example.rglob("*") if p.is_file() and p != profile}
    assert after == {p: b for p, b in before.items() if p != profile}  # nothing half-written


def test_the_json_schema_refuses_credentials_without_echoing_them(tmp_path: Path) -> None:
    text = f"version: 1\ncache:\n  remote:\n    kind: redis\n    location: rediss://:{SECRET}@h\n"
    with pytest.raises(Exception) as caught:
        parse_profile(text, root=tmp_path, path=tmp_path / "buildkit.yaml")
    assert "cache.remote.location" in str(caught.value)
    assert SECRET not in str(caught.value) and SECRET not in json.dumps(caught.value.args)


@pytest.mark.parametrize("shell", ["dash", "bash"])
def test_kind_gha_is_on_only_with_a_runners_token_and_off_elsewhere(
    example: Path, tmp_path: Path, shell: str
) -> None:
    _init(example, "cache:\n  remote:\n    kind: gha\n    key_prefix: numbers\n")
    base = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "BUILDKIT_CACHE_DIR": str(tmp_path / "c"),
    }
    # laptops, the repository, agents: off (no GitHub cache outside a runner)
    got = _wrapper_env(example, base, shell)
    assert "SCCACHE_MULTILEVEL_CHAIN" not in got and "SCCACHE_GHA_ENABLED" not in got
    env_file = (example / ".config/buildkit.env").read_text()
    assert 'BUILDKIT_CACHE_REMOTE="${BUILDKIT_CACHE_REMOTE:-off}"' in env_file
    config = load_jsonc(example / ".devcontainer/devcontainer.json")
    assert config["containerEnv"]["BUILDKIT_CACHE_REMOTE"] == "off"
    # a mode without the runner's token (the workflow's github-script step exports it): off
    got = _wrapper_env(example, {**base, "BUILDKIT_CACHE_REMOTE": "read-write"}, shell)
    assert "SCCACHE_GHA_ENABLED" not in got
    # on a runner, after that step: sccache's gha level in the run's mode, no probe (no host)
    runner = {**base, "ACTIONS_RUNTIME_TOKEN": "t", "ACTIONS_RESULTS_URL": "http://x.invalid/"}
    for mode, rw in (("read-write", "READ_WRITE"), ("read-only", "READ_ONLY")):
        got = _wrapper_env(example, {**runner, "BUILDKIT_CACHE_REMOTE": mode}, shell)
        assert got["SCCACHE_MULTILEVEL_CHAIN"] == "disk,gha"
        assert got["SCCACHE_GHA_ENABLED"] == "on" and got["SCCACHE_GHA_VERSION"] == "numbers"
        assert got["SCCACHE_GHA_RW_MODE"] == rw
        assert got["SCCACHE_SERVER_UDS"].endswith("-rw" if mode == "read-write" else "-ro")
    assert not list((tmp_path / "c").glob("remote-down-*"))  # nothing was probed
