"""buildkit: stops Rust builds from eating disks and CPUs where many builds run at once."""

__version__ = "0.1.0"
