"""Merged keys in a user's .cargo/config.toml: a user's setting is never silently overridden,
--force keeps it to restore, every TOML shape works or gets one line; cargo itself checks."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from conftest import run_buildkit
from core.test_cargo import cargo, cargo_config, rustc_lines

TRIPLE = "x86_64-unknown-linux-gnu"


def setup(root: Path, config: str | None, cargo_section: str = "") -> Path:
    path = root / ".cargo" / "config.toml"
    if config is not None:
        path.parent.mkdir(exist_ok=True)
        path.write_text(config)
    set_cargo(root, cargo_section)
    return path


def set_cargo(root: Path, cargo_section: str) -> None:
    """The profile's cargo section (dependency_debug off unless given; no compiler cache or
    admission, whose `build.rustc-wrapper` and runner keys would be more buildkit keys in every
    file)."""
    if "dependency_debug" not in cargo_section:
        cargo_section = "  dependency_debug: null\n" + cargo_section
    profile = (
        "version: 1\nhakari:\n  enabled: false\ncache:\n  engine: none\n"
        "admission:\n  enabled: false\ncargo:\n"
    )
    (root / "buildkit.yaml").write_text(profile + cargo_section)


def one_line(stderr: str) -> str:
    assert "Traceback" not in stderr
    return stderr.strip().splitlines()[0]


@pytest.mark.parametrize("command", ["init", "render"])
def test_a_key_the_user_set_is_a_conflict_and_nothing_is_written(
    example: Path, command: str
) -> None:
    config = setup(example, "[build]\njobs = 3 # mine\n", "  jobs: 2\n")
    ran = run_buildkit(command, example)
    assert ran.exit_code == 1
    line = one_line(ran.stderr)
    assert "build.jobs = 3 (yours)" in line and "cargo.jobs would set to 2" in line, line
    assert "--force" in line
    assert config.read_text() == "[build]\njobs = 3 # mine\n"
    assert not (example / "scripts").exists(), "nothing else was written either"


def test_force_adopts_and_the_users_value_comes_back(example: Path) -> None:
    user = "# top\n[build]\njobs = 3 # mine\nincremental = true\n"
    config = setup(example, user, "  jobs: 2\n  incremental: true\n")
    assert run_buildkit("render", example).exit_code == 1
    forced = run_buildkit("render", "--force", example)
    assert forced.exit_code == 0, forced.stderr
    assert cargo_config(example, "build.jobs") == 2
    assert "yours: 3 # mine" in config.read_text()
    # An equal value is adopted without a conflict and restored the same way.
    assert run_buildkit("check", example).exit_code == 0
    assert run_buildkit("render", example).exit_code == 0
    set_cargo(example, "")
    assert run_buildkit("render", example).exit_code == 0
    assert config.read_text() == user
    assert cargo_config(example, "build.jobs") == 3


def test_booleans_round_trip_through_edit_detection(example: Path) -> None:
    config = setup(example, None, "  incremental: false\n")
    assert run_buildkit("init", example).exit_code == 0
    set_cargo(example, "  incremental: false\n  jobs: 2\n")
    ran = run_buildkit("render", example)
    assert ran.exit_code == 0, ran.stderr
    assert cargo_config(example, "build.incremental") is False
    set_cargo(example, "  incremental: null\n  jobs: 2\n")
    assert run_buildkit("render", example).exit_code == 0
    assert "incremental" not in config.read_text()
    assert run_buildkit("check", example).exit_code == 0
    # A hand edit of a boolean buildkit wrote is still seen.
    set_cargo(example, "  incremental: false\n")
    assert run_buildkit("render", example).exit_code == 0
    config.write_text(config.read_text().replace("incremental = false", "incremental = true"))
    assert run_buildkit("check", example).exit_code == 1
    assert "edited by hand" in one_line(run_buildkit("render", example).stderr)


@pytest.mark.parametrize(
    ("config", "needle"),
    [
        ("profile = { dev = { opt-level = 1 } }\n", "profile is an inline table"),
        (
            f'[target]\n{TRIPLE} = {{ linker = "cc" }}\n',
            f"target.{TRIPLE} is an inline table",
        ),
        ("[[profile]]\nx = 1\n", "profile is an array of tables"),
        ('build = "fast"\n', "build is a value, not a table"),
        ("[build.jobs]\nx = 1\n", "build.jobs is a table"),
        ("[build\n", ".cargo/config.toml:1: invalid TOML"),
        ("a = 1\na = 2\n", "invalid TOML"),
    ],
)
def test_shapes_buildkit_cannot_mark_get_one_line(example: Path, config: str, needle: str) -> None:
    path = setup(example, config, "  jobs: 2\n  linker: lld\n")
    set_cargo(example, "  jobs: 2\n  linker: lld\n  dependency_debug: none\n")
    ran = run_buildkit("render", "--force", example)
    assert ran.exit_code == 2, ran.stdout + ran.stderr
    assert needle in one_line(ran.stderr)
    assert path.read_text() == config


def test_dotted_keys_are_managed_in_place(example: Path) -> None:
    user = 'build.rustdocflags = ["--cfg", "docsrs"]\nbuild.jobs = 4\n'
    config = setup(example, user, "  jobs: 2\n  incremental: false\n")
    assert run_buildkit("render", "--force", example).exit_code == 0
    assert cargo_config(example, "build.jobs") == 2
    assert cargo_config(example, "build.incremental") is False
    assert cargo_config(example, "build.rustdocflags") == ["--cfg", "docsrs"]
    set_cargo(example, "")
    assert run_buildkit("render", example).exit_code == 0
    assert config.read_text() == user


@pytest.mark.parametrize("both", [True, False])
def test_legacy_cargo_config_is_refused_with_how_to_migrate(example: Path, both: bool) -> None:
    setup(example, "[build]\n" if both else None, "  jobs: 2\n")
    legacy = example / ".cargo" / "config"
    legacy.parent.mkdir(exist_ok=True)
    legacy.write_text("[build]\njobs = 3\n")
    ran = run_buildkit("render", example)
    assert ran.exit_code == 2
    line = one_line(ran.stderr)
    assert line.startswith("buildkit: error: .cargo/config: cargo's legacy config file")
    assert "git mv .cargo/config .cargo/config.toml" in line
    assert legacy.read_text() == "[build]\njobs = 3\n"
    assert (example / ".cargo/config.toml").exists() is both


USER_RUSTFLAGS = '[build]\nrustflags = ["--cfg", "from_build"]\n'


def test_linker_carries_build_rustflags_and_merges_target_rustflags(example: Path) -> None:
    """Real cargo: every user flag from build.rustflags and target rustflags stays on the rustc
    command line next to buildkit's, and dropping the linker restores the user's file."""
    assert shutil.which("ld.lld"), "dev/setup.d/15-linkers.sh installs lld"
    user = USER_RUSTFLAGS + f'[target.{TRIPLE}]\nrustflags = ["--cfg", "from_target"]\n'
    for config_text, expected in [
        (USER_RUSTFLAGS, ["--cfg from_build"]),
        (user, ["--cfg from_target"]),
    ]:
        config = setup(example, config_text, "  linker: lld\n")
        ran = run_buildkit("render", example)
        assert ran.exit_code == 0, ran.stderr
        built = cargo(example, "build", "-v")
        assert built.returncode == 0, built.stderr
        line = rustc_lines(built.stderr, "hello")
        for flag in [*expected, "-C link-arg=-fuse-ld=lld"]:
            assert flag in line, (flag, line)
        set_cargo(example, "")
        assert run_buildkit("render", example).exit_code == 0
        assert config.read_text() == config_text
        shutil.rmtree(example / "target")


def test_a_flag_added_to_build_rustflags_later_is_reported(example: Path) -> None:
    config = setup(example, USER_RUSTFLAGS, "  linker: lld\n")
    assert run_buildkit("render", example).exit_code == 0
    config.write_text(config.read_text().replace('"from_build"]', '"from_build", "-g"]'))
    ran = run_buildkit("render", example)
    assert ran.exit_code == 1
    assert '["-g"]' in one_line(ran.stderr) and "cargo ignores build.rustflags" in ran.stderr


def test_lld_is_not_re_set_where_it_is_the_default(example: Path) -> None:
    manifest = example / "Cargo.toml"
    manifest.write_text(manifest.read_text() + 'rust-version = "1.90"\n')
    config = setup(example, None, "  linker: lld\n")
    assert run_buildkit("render", example).exit_code == 0
    text = config.read_text()
    assert f"[target.{TRIPLE}]" not in text
    assert "[target.aarch64-unknown-linux-gnu]" in text
    assert cargo(example, "build").returncode == 0


def test_keys_in_included_files_are_conflicts_and_come_back(example: Path) -> None:
    """cargo's `include`: the including file wins, so buildkit's key would silently override
    the included one; it is a conflict, and after --force removing the setting restores it."""
    user = 'include = ["team.toml"]\n'
    config = setup(example, user, "  jobs: 2\n")
    (example / ".cargo" / "team.toml").write_text("[build]\njobs = 5\n")
    ran = run_buildkit("render", example)
    assert ran.exit_code == 1
    assert "build.jobs = 5 in .cargo/team.toml (yours)" in one_line(ran.stderr)
    assert config.read_text() == user
    assert run_buildkit("render", "--force", example).exit_code == 0
    assert cargo_config(example, "build.jobs") == 2
    set_cargo(example, "")
    assert run_buildkit("render", example).exit_code == 0
    assert config.read_text() == user
    assert cargo_config(example, "build.jobs") == 5


def test_build_rustflags_only_in_an_included_file_is_reported(example: Path) -> None:
    config = setup(example, 'include = ["team.toml"]\n', "  linker: lld\n")
    (example / ".cargo" / "team.toml").write_text(USER_RUSTFLAGS)
    ran = run_buildkit("render", example)
    assert ran.exit_code == 1
    assert "build.rustflags in .cargo/team.toml" in one_line(ran.stderr)
    assert config.read_text() == 'include = ["team.toml"]\n'


def test_a_linker_missing_on_macos_renders_keys_that_apply_only_to_linux(
    example: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """macOS cannot run here: platform.system() is simulated. A teammate's Mac without mold
    renders the shared profile; the keys name Linux targets only, so cargo there ignores them."""
    assert not shutil.which("mold"), "this test needs a machine without mold"
    monkeypatch.setattr("platform.system", lambda: "Darwin")
    config = setup(example, None, "  linker: mold\n")
    ran = run_buildkit("render", example)
    assert ran.exit_code == 0, ran.stderr
    assert cargo_config(example, f"target.{TRIPLE}.rustflags") == ["-C", "link-arg=-fuse-ld=mold"]
    assert "[target.aarch64-unknown-linux-gnu]" in config.read_text()
    assert "[target.x86_64-apple-darwin]" not in config.read_text()
    monkeypatch.setattr("platform.system", lambda: "Linux")
    refused = run_buildkit("render", example)
    assert refused.exit_code == 2 and "`mold` is not on PATH" in refused.stderr


def test_the_same_value_is_not_a_conflict_and_is_given_back(example: Path) -> None:
    user = "[build]\nincremental = true   # on purpose\n"
    config = setup(example, user, "  incremental: true\n")
    ran = run_buildkit("render", example)
    assert ran.exit_code == 0, ran.stderr
    assert "yours: true   # on purpose" in config.read_text()
    set_cargo(example, "")
    assert run_buildkit("render", example).exit_code == 0
    assert config.read_text() == user


def test_flags_the_user_adds_to_a_merged_list_stay(example: Path) -> None:
    user = f'[target.{TRIPLE}]\nrustflags = ["--cfg", "a"] # mine\n'
    config = setup(example, user, "  linker: lld\n")
    assert run_buildkit("render", example).exit_code == 0
    config.write_text(config.read_text().replace('"a", "-C"', '"a", "-g", "-C"'))
    assert run_buildkit("check", example).exit_code == 0, "the user's part is not drift"
    assert run_buildkit("render", example).exit_code == 0
    assert cargo_config(example, f"target.{TRIPLE}.rustflags") == [
        "--cfg", "a", "-g", "-C", "link-arg=-fuse-ld=lld",
    ]  # fmt: skip
    set_cargo(example, "")
    assert run_buildkit("render", example).exit_code == 0
    assert config.read_text() == user.replace('"a"]', '"a", "-g"]')


def test_a_users_comment_that_mentions_buildkit_does_not_make_the_key_buildkits(
    example: Path,
) -> None:
    user = "[build]\njobs = 3 # buildkit: I set this by hand\n"
    config = setup(example, user, "  incremental: false\n")
    assert run_buildkit("render", example).exit_code == 0
    set_cargo(example, "")
    assert run_buildkit("render", example).exit_code == 0
    assert config.read_text() == user


def test_an_include_inside_an_include_is_read_relative_to_its_file(example: Path) -> None:
    config = setup(example, 'include = ["team/base.toml"]\n', "  jobs: 2\n")
    team = example / ".cargo" / "team"
    team.mkdir()
    (team / "base.toml").write_text('include = ["jobs.toml"]\n')
    (team / "jobs.toml").write_text("[build]\njobs = 6\n")
    assert cargo_config(example, "build.jobs") == 6
    ran = run_buildkit("render", example)
    assert ran.exit_code == 1
    assert "build.jobs = 6 in .cargo/team/jobs.toml (yours)" in one_line(ran.stderr)
    assert config.read_text() == 'include = ["team/base.toml"]\n'


def test_build_rustflags_beside_a_cfg_target_list_is_asked_about(example: Path) -> None:
    user = USER_RUSTFLAGS + "[target.'cfg(windows)']\nrustflags = [\"-g\"]\n"
    config = setup(example, user, "  linker: lld\n")
    ran = run_buildkit("render", example)
    assert ran.exit_code == 1
    line = one_line(ran.stderr)
    assert "build.rustflags and target.'cfg(…)'.rustflags" in line, line
    assert config.read_text() == user
    # Writing the triples' lists yourself answers it: buildkit then appends to them.
    own = "".join(
        f'[target.{triple}]\nrustflags = ["--cfg", "from_build"]\n'
        for triple in (TRIPLE, "aarch64-unknown-linux-gnu")
    )
    config.write_text(user + own)
    assert run_buildkit("render", example).exit_code == 0
    built = cargo(example, "build", "-v")
    assert built.returncode == 0, built.stderr
    line = rustc_lines(built.stderr, "hello")
    assert "--cfg from_build" in line and "-C link-arg=-fuse-ld=lld" in line
