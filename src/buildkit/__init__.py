"""buildkit: stops Rust builds from eating disks and CPUs where many builds run at once."""

__version__ = "0.1.0"
# The name on PyPI (`buildkit` there is an unrelated project); the command stays `buildkit`.
DISTRIBUTION = "buildkit-rs"
