"""Properties of gc's size parser, the duplicate grouping and the orphan scope, on generated
inputs."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from buildkit.diagnose import procs
from buildkit.diagnose.gc import parse_size
from buildkit.diagnose.units import Fingerprint, Unit, find_duplicates
from buildkit.errors import BadInput

FACTORS = {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4}


@given(
    st.integers(min_value=0, max_value=10**6),
    st.sampled_from(sorted(FACTORS)),
    st.sampled_from(["", "B", "iB"]),
    st.booleans(),
)
def test_sizes_parse_to_powers_of_1024(n: int, unit: str, suffix: str, lower: bool) -> None:
    text = f"{n}{unit.lower() if lower else unit}{suffix if unit else ''}"
    assert parse_size(text) == n * FACTORS[unit]


@given(st.text(min_size=1).filter(lambda t: not t.strip()[:1].isdigit()))
def test_anything_not_starting_with_a_number_is_refused(text: str) -> None:
    with pytest.raises(BadInput, match="--max-size"):
        parse_size(text)


def _unit(
    n: int, profile: str, features: str, path: int, mode: str, rustc: int, incremental: int
) -> Unit:
    ext = ".rlib" if mode == "build" else ".rmeta"
    hash_ = f"{n:016x}"
    unit = Unit(profile, hash_, "crate", outputs=[Path(f"deps/libcrate-{hash_}{ext}")])
    unit.fingerprints.append(
        Fingerprint("lib-crate", n, rustc, features, incremental, path, 1, 0, "[]", 0, (), ())
    )
    unit.written = float(n)
    unit.bytes = 100 + n
    return unit


units_strategy = st.lists(
    st.tuples(
        st.sampled_from(["debug", "release"]),
        st.sampled_from(['["a"]', '["b"]', '["a", "b"]']),
        st.sampled_from([10, 20]),  # two versions of the crate
        st.sampled_from(["build", "check"]),
        st.sampled_from([1, 2]),  # two toolchains
        st.sampled_from([5, 6]),  # incremental on / off
    ),
    max_size=12,
)


@given(units_strategy)
def test_duplicates_are_only_copies_of_one_thing(
    specs: list[tuple[str, str, int, str, int, int]],
) -> None:
    units = [_unit(n, *spec) for n, spec in enumerate(specs)]
    dups = find_duplicates(units)
    seen: set[str] = set()
    for dup in dups:
        assert len(dup.units) >= 2
        keys = {(u.profile, u.mode, u.main.path) for u in dup.units if u.main}
        assert len(keys) == 1  # never debug vs release, check vs build, or two versions
        assert dup.causes
        hashes = {u.hash for u in dup.units}
        assert not hashes & seen
        seen |= hashes
    # and every group of two or more same-key units is reported
    groups: dict[tuple[str, str, int], int] = {}
    for spec in specs:
        groups[(spec[0], spec[3], spec[2])] = groups.get((spec[0], spec[3], spec[2]), 0) + 1
    assert len(dups) == sum(1 for count in groups.values() if count >= 2)


@given(st.lists(st.sampled_from(["a", "b", "..", ".", "c"]), max_size=5))
def test_the_scope_never_reaches_outside(parts: list[str]) -> None:
    root = "/repo/wt"
    raw = "/".join([root, *parts])  # `..` left in: inside() must resolve it
    path = os.path.normpath(raw)
    expected = path == root or path.startswith(root + "/")
    assert procs.inside(raw, [root]) == expected
    assert not procs.inside("/repo/wt-other", [root])
