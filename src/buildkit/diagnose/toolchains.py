"""Which Rust compilers are installed: ``rustup toolchain list -v`` (each toolchain's
``rustc -V``), or the ``rustc`` on PATH alone without rustup.

Versions are compared as ``rustc -V`` prints them (``rustc 1.95.0 (59807616e 2026-04-14)``),
the same string rustc writes into the header of every ``.rmeta``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Installed:
    versions: frozenset[str]
    source: str  # "rustup", "rustc on PATH", or "none found"


def _version(rustc: str) -> str | None:
    try:
        done = subprocess.run(
            [rustc, "-V"], capture_output=True, text=True, check=False, timeout=30
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    line = done.stdout.strip()
    return line if done.returncode == 0 and line.startswith("rustc ") else None


def installed() -> Installed:
    rustup = shutil.which("rustup")
    if rustup is not None:
        try:
            done = subprocess.run(
                [rustup, "toolchain", "list", "-v"],
                capture_output=True,
                text=True,
                check=False,
                timeout=30,
            )
        except (OSError, subprocess.TimeoutExpired):
            done = None
        if done is not None and done.returncode == 0:
            versions = set()
            for line in done.stdout.splitlines():
                parts = line.split()
                if not parts:
                    continue
                toolchain_rustc = Path(parts[-1]) / "bin" / "rustc"
                if os.access(toolchain_rustc, os.X_OK):
                    version = _version(str(toolchain_rustc))
                    if version:
                        versions.add(version)
            return Installed(frozenset(versions), "rustup")
    on_path = shutil.which("rustc")
    version = _version(on_path) if on_path else None
    if version:
        return Installed(frozenset({version}), "rustc on PATH")
    return Installed(frozenset(), "none found")
