"""The project profile, ``buildkit.yaml``: schema, loading with validation, defaults."""

from buildkit.profile.load import PROFILE_FILE, Profile, load_profile, parse_profile
from buildkit.profile.schema import PROFILE_VERSION, SECTIONS, profile_schema

__all__ = [
    "PROFILE_FILE",
    "PROFILE_VERSION",
    "SECTIONS",
    "Profile",
    "load_profile",
    "parse_profile",
    "profile_schema",
]
