"""A sandboxed agent: bubblewrap lets a command write only where Claude Code's sandbox would
(the working directory, the per-user temp folder, and `sandbox.filesystem.allowWrite` from the
rendered .claude/settings.json, `~/` being the home folder, as Claude Code reads it). With
buildkit's paths `cargo test` through the shim takes the queue and passes; without them cq
stops in one line naming the folder to allow."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest

from admission.admission_helpers import prebuilt_holder
from agents.agents_helpers import clean_env, read_runs
from agents.conftest import shim_path
from buildkit.render.agents import ADMISSION_PATH, CQ_STATE_PATH, SANDBOX_WRITE_PATHS
from buildkit.render.merged_json import MergedJson

REAL_HOME = Path("~").expanduser()
TOOLCHAIN = {
    "RUSTUP_HOME": os.environ.get("RUSTUP_HOME", str(REAL_HOME / ".rustup")),
    "CARGO_HOME": os.environ.get("CARGO_HOME", str(REAL_HOME / ".cargo")),
}


# Everything read-only but what the binds open (as Claude Code's bubblewrap sandbox on Linux).
SANDBOX = ["bwrap", "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc"]


def stop_cache_server(directory: Path) -> None:
    if (directory / "sock").exists():
        env = {**os.environ, "SCCACHE_SERVER_UDS": str(directory / "sock")}
        sccache = str(shutil.which("sccache"))
        subprocess.run([sccache, "--stop-server"], env=env, capture_output=True, check=False)


def _allowed(settings: Path) -> list[str]:
    data = json.loads(settings.read_text())
    paths: list[str] = data.get("sandbox", {}).get("filesystem", {}).get("allowWrite", [])
    return paths


# After the test run, one compile the cache can keep (a library, emitting `link`), through the
# rendered wrapper as cargo calls it: the crates of the test repository are all ones the
# wrapper sends straight to rustc (incremental, linking or metadata-only).
CACHEABLE = (
    "cargo test --quiet && printf 'pub fn f() {}\\n' >\"$TMPDIR/lib.rs\" && "
    ".config/buildkit/bin/rustc-wrapper rustc --crate-name cached --crate-type lib "
    '--emit=link --out-dir "$TMPDIR" "$TMPDIR/lib.rs"'
)


def _sandboxed_cargo_test(
    repo: Path,
    tmp_path: Path,
    allow: list[str],
    *,
    make_dirs: bool = True,
    command: str = "cargo test --quiet",
) -> tuple[subprocess.CompletedProcess[str], Path, list[dict[str, object]]]:
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    scratch = tmp_path / "agent-tmp"  # Claude Code's per-user temp folder (TMPDIR)
    scratch.mkdir(exist_ok=True)
    binds = ["--bind", str(repo), str(repo), "--bind", str(scratch), str(scratch)]
    for entry in allow:
        assert entry.startswith("~/"), entry  # the only form buildkit renders
        folder = home / entry[2:]
        if make_dirs:  # bwrap binds existing folders only: cq's first run outside made it
            folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        binds += ["--bind", str(folder), str(folder)]
    log = scratch / "runs.log"
    run = uuid.uuid4().hex
    env = clean_env(Path("/unused"), PATH=shim_path(repo), HOME=str(home), TMPDIR=str(scratch))
    env.update(TOOLCHAIN, CQ_TEST_LOG=str(log), CQ_TEST_RUN=run, CQ_WAIT_TIMEOUT="60")
    # the compiler cache's own default too (~/.cache/buildkit/sccache), with the session's sccache
    env["BUILDKIT_SCCACHE"] = str(shutil.which("sccache"))
    for key in ("CQ_STATE_DIR", "XDG_RUNTIME_DIR", "BUILDKIT_CACHE_DIR", "BUILDKIT_ADMISSION_DIR"):
        env.pop(key, None)  # the defaults: ~/.cache/buildkit-cq, ~/.cache/buildkit/…
    ran = subprocess.run(
        [*SANDBOX, *binds, "--chdir", str(repo), "sh", "-c", command],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    return ran, home, [r for r in read_runs(log) if r["run"] == run]


def test_rendered_allow_write_lets_cargo_test_take_the_queue(
    agents_repo: list[Path], tmp_path: Path
) -> None:
    repo = agents_repo[0]
    allow = _allowed(repo / ".claude/settings.json")
    assert allow == ["~/.cache/buildkit-cq", "~/.cache/buildkit/sccache", ADMISSION_PATH]
    ran, home, runs = _sandboxed_cargo_test(repo, tmp_path, allow, command=CACHEABLE)
    try:
        assert ran.returncode == 0, ran.stderr
        assert len(runs) == 1 and runs[0]["holder"] is not None, (ran.stderr, runs)
        assert "test result: ok" in ran.stdout
        # the cacheable compile went through the cache: its server listened in the allowed dir
        assert (home / ".cache/buildkit/sccache/sock").exists(), ran.stderr
    finally:
        stop_cache_server(home / ".cache/buildkit/sccache")


def test_without_the_cache_path_the_build_compiles_uncached_and_passes(
    agents_repo: list[Path], tmp_path: Path
) -> None:
    repo = agents_repo[0]
    allow = [CQ_STATE_PATH, ADMISSION_PATH]
    ran, home, runs = _sandboxed_cargo_test(repo, tmp_path, allow, command=CACHEABLE)
    assert ran.returncode == 0, ran.stderr
    assert len(runs) == 1 and runs[0]["holder"] is not None, (ran.stderr, runs)
    assert not (home / ".cache/buildkit/sccache/sock").exists()


@pytest.mark.parametrize("state_exists", [False, True])
def test_without_the_settings_cq_names_the_folder_to_allow_in_one_line(
    agents_repo: list[Path], tmp_path: Path, state_exists: bool
) -> None:
    repo = agents_repo[0]
    if state_exists:
        (tmp_path / "home/.cache/buildkit-cq").mkdir(parents=True, mode=0o700)
    ran, home, runs = _sandboxed_cargo_test(repo, tmp_path, [])
    assert ran.returncode != 0 and runs == []
    lines = ran.stderr.strip().splitlines()
    assert len(lines) == 1, ran.stderr
    assert f"allow writes to {home}/.cache/buildkit-cq " in lines[0]
    assert "sandbox.filesystem.allowWrite" in lines[0]


def test_allow_write_merges_with_the_users_paths_and_leaves_with_buildkit() -> None:
    mine = json.dumps(
        {"sandbox": {"enabled": True, "filesystem": {"allowWrite": ["~/.kube"]}}}, indent=2
    )
    on = MergedJson(".claude/settings.json", (), allow_write=SANDBOX_WRITE_PATHS,
                    known_allow_write=SANDBOX_WRITE_PATHS)  # fmt: skip
    off = MergedJson(".claude/settings.json", (), known_allow_write=SANDBOX_WRITE_PATHS)
    merged = on.render(mine)
    assert merged is not None
    assert json.loads(merged)["sandbox"]["filesystem"]["allowWrite"] == [
        "~/.kube",
        "~/.cache/buildkit-cq",
        "~/.cache/buildkit/sccache",
        "~/.cache/buildkit/admission",
    ]
    assert on.render(merged) == merged  # up to date: the bytes stay
    assert off.render(merged) == mine  # laid out as Claude Code writes it: exactly as before
    created = on.render(None)
    assert created is not None
    assert off.render(created) == "{}\n"  # only buildkit's paths were there: they go


@pytest.mark.parametrize("holder", ["compiled", "perl"])
def test_without_the_budget_path_the_build_fails_naming_the_folder_to_allow(
    agents_repo: list[Path], tmp_path: Path, holder: str
) -> None:
    """Fail closed: a compile outside the CPU budget is not silently allowed; one line says
    which folder the sandbox must allow. Either holder says it (perl: the compiled one is not
    there, and cannot be built in a folder the sandbox keeps read-only)."""
    folder = tmp_path / "home/.cache/buildkit/admission"
    folder.mkdir(parents=True, mode=0o700)
    for part in ("home/.cache", "home/.cache/buildkit"):
        (tmp_path / part).chmod(0o700)
    if holder == "compiled":
        built = prebuilt_holder()
        shutil.copy2(built, folder / built.name)
    ran, home, _ = _sandboxed_cargo_test(agents_repo[0], tmp_path, [CQ_STATE_PATH])
    assert ran.returncode != 0
    line = f"cannot write the CPU budget folder {home}/.cache/buildkit/admission "
    assert line in ran.stderr, ran.stderr
    assert "Read-only file system)" in ran.stderr, "the reason is the write's own error"
    assert "sandbox.filesystem.allowWrite" in ran.stderr
