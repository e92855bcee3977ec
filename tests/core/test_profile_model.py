"""The typed profile: generated from the schema, never stale, and mypy catches a misspelled key."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from buildkit.profile import parse_profile
from buildkit.profile.codegen import generate
from buildkit.profile.model import ProfileModel
from conftest import REPO

MODEL = REPO / "src/buildkit/profile/model.py"


def test_the_committed_model_is_the_schemas() -> None:
    assert MODEL.read_text() == generate(), (
        "src/buildkit/profile/model.py is stale: python -m buildkit.profile.codegen --write"
    )


def _type_check(tmp_path: Path, body: str) -> subprocess.CompletedProcess[str]:
    probe = tmp_path / "probe.py"
    probe.write_text(
        "from buildkit.profile import Profile\n\n\ndef use(profile: Profile) -> object:\n"
        f"    return {body}\n"
    )
    return subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", str(probe)],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )


def test_mypy_catches_a_misspelled_profile_key(tmp_path: Path) -> None:
    good = _type_check(tmp_path, "profile.model.cq.grace_seconds + 1")
    assert good.returncode == 0, good.stdout
    bad = _type_check(tmp_path, "profile.model.cq.grace_secnds + 1")
    assert bad.returncode == 1
    assert '"CqSection" has no attribute "grace_secnds"' in bad.stdout
    wrong_type = _type_check(tmp_path, "profile.model.cq.path + 1")
    assert wrong_type.returncode == 1 and "Unsupported operand" in wrong_type.stdout


jobs = st.one_of(st.none(), st.integers(min_value=1, max_value=64))
names = st.from_regex(r"[a-z][a-z0-9_]{0,8}", fullmatch=True)


@settings(max_examples=50, deadline=None)
@given(
    jobs=jobs,
    members=st.lists(names, max_size=4, unique=True),
    scope=st.sampled_from(["user", "repository"]),
)
def test_the_model_carries_exactly_the_data(
    jobs: int | None, members: list[str], scope: str
) -> None:
    listed = "".join(f"    - {{name: {m}, path: crates/{m}}}\n" for m in members)
    text = (
        "version: 1\n"
        + (f"workspace:\n  members:\n{listed}" if members else "")
        + f"cargo:\n  jobs: {'null' if jobs is None else jobs}\ncq:\n  scope: {scope}\n"
    )
    profile = parse_profile(text, root=Path(), path=Path("buildkit.yaml"))
    model = profile.model
    assert isinstance(model, ProfileModel)
    assert model.cargo.jobs == jobs
    assert model.cq.scope == scope
    assert [m.name for m in model.workspace.members] == members
    assert [m.path for m in model.workspace.members] == [f"crates/{m}" for m in members]
    assert model.cq.heavy_commands == tuple(profile.data["cq"]["heavy_commands"])
