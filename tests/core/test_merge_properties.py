"""Property tests of the merged .cargo/config.toml: generated user configs in every TOML shape
(tables, dotted keys, inline tables, arrays of tables, comments, odd spacing) against generated
profiles. Checked in Python on many cases, and by real cargo on a few."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import tempfile
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from buildkit.errors import BadInput
from buildkit.profile import parse_profile
from buildkit.render.cargo_config import LINUX_TARGETS, cargo_settings
from buildkit.render.ownership import ManagedKey, MergedToml

Key = tuple[str, ...]
FLAGS = st.lists(st.sampled_from(["-g", "--cfg", "mine", "-C", "opt-level=1", "-Dwarnings"]))
# Keys buildkit may manage, each with values of the type cargo expects there.
MANAGEABLE: dict[Key, st.SearchStrategy[Any]] = {
    ("build", "jobs"): st.integers(1, 64),
    ("build", "incremental"): st.booleans(),
    ("build", "build-dir"): st.sampled_from(["cache", "{workspace-root}/b", "x y"]),
    ("build", "rustflags"): FLAGS,
    ("profile", "dev", "package", "*", "debug"): st.sampled_from(["none", "full", "limited"]),
    **{("target", t, "rustflags"): FLAGS for t in LINUX_TARGETS},
}
OTHERS: dict[Key, st.SearchStrategy[Any]] = {
    ("alias", "xt"): st.sampled_from(["run -p xtask --", "test --all"]),
    ("build", "rustdocflags"): FLAGS,
    ("net", "git-fetch-with-cli"): st.booleans(),
    ("profile", "dev", "opt-level"): st.integers(0, 3),
    ("profile", "release", "lto"): st.sampled_from(["thin", "fat"]),
    ("env", "FOO"): st.sampled_from(["bar", "a b", 'q"uote']),
    ("term", "verbose"): st.booleans(),
    (("target", LINUX_TARGETS[0], "runner")): st.sampled_from(["valgrind", "qemu"]),
}
COMMENT = st.text(
    st.characters(blacklist_categories=("Cc", "Cs"), blacklist_characters="\n\r"), max_size=12
)
EQUALS = st.sampled_from([" = ", "=", "  =  "])


def key_text(key: str) -> str:
    return key if key.replace("-", "").replace("_", "").isalnum() else json.dumps(key)


def value_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value)
    return "[" + ", ".join(value_text(v) for v in value) + "]"


@st.composite
def user_configs(draw: st.DrawFn) -> str:
    """A valid TOML text: a random subset of keys, grouped per table, each group in one of
    the shapes TOML allows, with comments and blank lines in between."""
    pool = {**MANAGEABLE, **OTHERS}
    chosen = draw(st.lists(st.sampled_from(sorted(pool)), unique=True, max_size=8))
    groups: dict[Key, list[tuple[str, Any]]] = {}
    for path in chosen:
        groups.setdefault(path[:-1], []).append((path[-1], draw(pool[path])))
    tops = [g[0] for g in groups]
    head: list[str] = []  # top-level dotted keys and inline tables come before any [table]
    body: list[str] = []
    for table, entries in groups.items():
        alone = tops.count(table[0]) == 1
        style = draw(st.sampled_from(["table", "dotted", "inline"] if alone else ["table"]))
        if style == "inline":
            inner = ", ".join(f"{key_text(k)} = {value_text(v)}" for k, v in entries)
            nested = "{ " + inner + " }"
            for name in reversed(table[1:]):
                nested = "{ " + f"{key_text(name)} = {nested}" + " }"
            head.append(f"{key_text(table[0])} = {nested}")
            continue
        lines = head if style == "dotted" else body
        prefix = ".".join(key_text(t) for t in table) + "." if style == "dotted" else ""
        if style == "table":
            body.append(f"[{'.'.join(key_text(t) for t in table)}]")
        for name, value in entries:
            comment = draw(COMMENT)
            line = f"{prefix}{key_text(name)}{draw(EQUALS)}{value_text(value)}"
            lines.append(line + (f" # {comment}" if draw(st.booleans()) else ""))
            if draw(st.booleans()):
                lines.append(f"# {comment}" if draw(st.booleans()) else "")
    if draw(st.booleans()):
        body.append('[[bin-notes]]\nname = "a"\n[[bin-notes]]\nname = "b"')
    text = "\n".join(head + body)
    text = (f"# {draw(COMMENT)}\n" if draw(st.booleans()) else "") + text
    text = text + "\n" if text else text
    tomllib.loads(text)  # the generator itself must write valid TOML
    return text


DEFAULT_CARGO = parse_profile("version: 1\n", root=Path(), path=Path("buildkit.yaml")).model.cargo


@st.composite
def profiles(draw: st.DrawFn) -> tuple[ManagedKey, ...]:
    cargo: dict[str, Any] = {
        "dependency_debug": draw(st.sampled_from([None, "none", "line-tables-only", False])),
        "jobs": draw(st.none() | st.integers(1, 64)),
        "incremental": draw(st.none() | st.booleans()),
        "build_dir": draw(st.none() | st.sampled_from(["cache", "{workspace-root}/b"])),
        "linker": draw(st.sampled_from(["none", "lld", "mold"])),
    }
    version = draw(st.none() | st.sampled_from([(1, 85), (1, 90)]))
    return cargo_settings(dataclasses.replace(DEFAULT_CARGO, **cargo), rust_version=version)


def leaves(tree: Mapping[str, Any], at: Key = ()) -> dict[Key, Any]:
    found: dict[Key, Any] = {}
    for key, value in tree.items():
        if isinstance(value, dict) and (*at, key) not in MANAGEABLE:
            found.update(leaves(value, (*at, key)))
        else:
            found[(*at, key)] = value
    return found


def merged(keys: tuple[ManagedKey, ...]) -> MergedToml:
    return MergedToml(".cargo/config.toml", keys)


def rendered(user: str, keys: tuple[ManagedKey, ...]) -> tuple[str, list[str]] | None:
    """buildkit's result (as with --force) and the conflicts it reports; None when the file
    is refused, which must be one line."""
    artifact = merged(keys)
    try:
        return artifact.render(user) or "", artifact.conflicts(user)
    except BadInput as exc:
        assert "\n" not in str(exc)
        return None


PROPERTY = settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPERTY
@given(user=user_configs(), first=profiles(), second=profiles())
def test_users_keys_survive_and_come_back(
    user: str, first: tuple[ManagedKey, ...], second: tuple[ManagedKey, ...]
) -> None:
    result = rendered(user, first)
    if result is None:
        return
    out, conflicts = result
    mine, got = leaves(tomllib.loads(user)), leaves(tomllib.loads(out))
    by_key = {k.keys: k for k in first}
    for path, value in mine.items():
        key = by_key.get(path)
        if key is None:
            assert got[path] == value, path  # a key buildkit does not set keeps its value
        elif key.append:
            assert got[path] == value + key.value, path  # flags merged, the user's first
        elif got[path] != value:
            assert any(".".join(path[:2]) in c.text for c in conflicts), (path, conflicts)
    for key in first:
        wanted = got[key.keys][-len(key.value) :] if key.append else got[key.keys]
        assert wanted == key.value, key
        seed = mine.get(("build", "rustflags"))
        if key.append and key.keys not in mine and seed:
            assert got[key.keys] == seed + key.value  # build.rustflags carried over
    # Rendering again is a no-op that reports nothing.
    assert merged(first).render(out) == out
    assert not merged(first).user_edited(out)
    assert merged(first).conflicts(out) == []
    # Another profile, then none: the user's file comes back byte for byte.
    again = rendered(out, second)
    if again is None:
        return
    assert merged(()).render(again[0]) == user


@PROPERTY
@given(user=user_configs(), keys=profiles())
def test_a_hand_edit_of_a_buildkit_value_is_seen(user: str, keys: tuple[ManagedKey, ...]) -> None:
    result = rendered(user, keys)
    scalar = [k for k in keys if not k.append and isinstance(k.value, (bool, int))]
    if result is None or not scalar:
        return
    out = result[0]
    key = scalar[0]
    old = f"{key.keys[-1]} = {value_text(key.value)} # buildkit:"
    new_value = (not key.value) if isinstance(key.value, bool) else key.value + 1
    edited = out.replace(old, f"{key.keys[-1]} = {value_text(new_value)} # buildkit:", 1)
    if edited != out:
        assert merged(keys).user_edited(edited)


def cargo_reads(root: Path) -> dict[str, Any]:
    """Everything cargo itself reads from its config files, as JSON."""
    home = root.parent / "cargo-home"
    home.mkdir(exist_ok=True)
    got = subprocess.run(
        ["cargo", "-Zunstable-options", "config", "get", "--format", "json"],
        cwd=root,
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "RUSTC_BOOTSTRAP": "1", "CARGO_HOME": str(home)},
    )
    assert got.returncode == 0, got.stderr
    loaded: dict[str, Any] = json.loads(got.stdout)
    return loaded


@settings(max_examples=6, deadline=None, suppress_health_check=list(HealthCheck))
@given(user=user_configs(), keys=profiles())
def test_real_cargo_reads_the_users_and_buildkits_values(
    tmp_path_factory: Any, user: str, keys: tuple[ManagedKey, ...]
) -> None:
    result = rendered(user, keys)
    if result is None:
        return
    root = tmp_path_factory.mktemp("ws")
    (root / "Cargo.toml").write_text('[package]\nname = "p"\nversion = "0.1.0"\n')
    (root / ".cargo").mkdir()
    (root / ".cargo" / "config.toml").write_text(result[0])
    config = root / ".cargo" / "config.toml"
    for text in (result[0], merged(()).render(result[0]) or ""):
        # Every key of the file (buildkit's and the user's) is what cargo reads; then again
        # once the profile no longer sets anything.
        config.write_text(text)
        seen = leaves(cargo_reads(root))
        for path, value in leaves(tomllib.loads(text)).items():
            assert seen[path] == value, (path, text)
    assert config.read_text() == user


@PROPERTY
@given(user=user_configs(), team=user_configs(), keys=profiles())
def test_keys_in_an_included_file_are_conflicts_and_that_file_is_never_touched(
    user: str, team: str, keys: tuple[ManagedKey, ...]
) -> None:
    """cargo's `include`: the including file wins, so a key buildkit sets over one the team file
    sets is reported; the team file is only read, and the user's own file comes back."""
    if "include" in tomllib.loads(user):
        return
    user = 'include = ["team.toml"]\n' + user
    with tempfile.TemporaryDirectory() as folder:
        base = Path(folder)
        (base / "team.toml").write_text(team)
        artifact = MergedToml(".cargo/config.toml", keys, base=base)
        try:
            out, conflicts = artifact.render(user) or "", artifact.conflicts(user)
        except BadInput as exc:
            assert "\n" not in str(exc)
            return
        theirs = leaves(tomllib.loads(team))
        for key in keys:
            if key.append or key.keys not in theirs or theirs[key.keys] == key.value:
                continue
            if key.keys not in leaves(tomllib.loads(user)):
                assert any(" in .cargo/team.toml (yours)" in c.text for c in conflicts), conflicts
        assert (base / "team.toml").read_text() == team
        assert MergedToml(".cargo/config.toml", (), base=base).render(out) == user
