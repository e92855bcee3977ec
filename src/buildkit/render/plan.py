"""The render plan: every artifact of every output family, from one profile."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from buildkit.errors import BadInput
from buildkit.profile import Profile
from buildkit.render import (
    admission,
    agents,
    cache,
    cargo_config,
    ci_workflow,
    cq,
    devcontainer,
    envfiles,
    hakari,
)
from buildkit.render.ownership import Artifact
from buildkit.render.steps import Step

# One entry per output family; each returns the artifacts its part of the profile renders.
FAMILIES: tuple[Callable[[Profile], list[Artifact]], ...] = (
    cargo_config.artifacts,
    envfiles.artifacts,
    hakari.artifacts,
    ci_workflow.artifacts,
    cq.artifacts,
    cache.artifacts,
    admission.artifacts,
    devcontainer.artifacts,
    agents.artifacts,
)

# Families that also drive another program; their steps run after every file is written.
STEP_FAMILIES: tuple[Callable[[Profile], list[Step]], ...] = (hakari.steps, cache.steps)


@dataclass(frozen=True)
class Plan:
    artifacts: tuple[Artifact, ...]
    steps: tuple[Step, ...] = ()


def build_plan(profile: Profile) -> Plan:
    artifacts: list[Artifact] = []
    for family in FAMILIES:
        artifacts.extend(family(profile))
    paths = [a.path for a in artifacts]
    duplicates = sorted({p for p in paths if paths.count(p) > 1})
    if duplicates:
        raise BadInput(
            f"{profile.path}: two artifacts would be written to {duplicates[0]}; "
            "give them different paths in the profile"
        )
    steps = [step for family in STEP_FAMILIES for step in family(profile)]
    return Plan(artifacts=tuple(artifacts), steps=tuple(steps))
