"""doctor's ``admission`` section: the CPU budget's folder and which program holds its slots.

Every compile, test binary and doctest starts a slot holder (templates/rustc-wrapper.sh). The
compiled one is built on a machine's first compile; where it could not be built, perl holds the
slots and each of those processes pays perl's start (about 6 ms more). Read-only: nothing is
built or removed here; ``old_holders`` lists for gc the holders older buildkits built.
"""

from __future__ import annotations

import os
import re
import stat
import time
from pathlib import Path
from typing import Any

from buildkit.profile import PROFILE_FILE, load_profile
from buildkit.render.agents import ADMISSION_PATH
from buildkit.render.cache import WRAPPER
from buildkit.render.home import LIBEXEC_DIR
from buildkit.resources import data_dir

HOLDER_ID = re.compile(r"^bk_holder_id=([0-9a-f]+)$", re.M)
# holder-<id> and what its build leaves: holder-<id>.failed (a log), holder-<id>.build (a lock)
HOLDER_FILE = re.compile(r"^holder-([0-9a-f]{16})(\.failed|\.build)?$")


def budget_dir() -> Path | None:
    """The budget's folder as the wrapper finds it (None: HOME is not an absolute path)."""
    named = os.environ.get("BUILDKIT_ADMISSION_DIR")
    if named:
        return Path(named)
    home = os.environ.get("HOME", "")
    return Path(home) / ADMISSION_PATH.removeprefix("~/") if home.startswith("/") else None


def holder_id(root: Path) -> str | None:
    """The holder the repository's wrapper runs (the packaged wrapper's without one)."""
    return _wrapper_holder_id(root / WRAPPER) or _wrapper_holder_id(_packaged_wrapper())


def old_holders(root: Path, cutoff: float) -> list[tuple[Path, int]]:
    """The budget folder's holders (with their logs and locks) of other versions than the one
    this repository's wrapper and buildkit's own run, not used since ``cutoff``, with their
    bytes. Each buildkit upgrade that changes the holder's source leaves one (about 1.5 MB);
    another repository still on that version builds it again on its next compile, once."""
    folder = budget_dir()
    if folder is None:
        return []
    current = {holder_id(root), _wrapper_holder_id(_packaged_wrapper())}
    home = os.environ.get("HOME", "")
    if home.startswith("/"):  # the wrapper `buildkit provision` put in the home folder
        current.add(_wrapper_holder_id(Path(home) / LIBEXEC_DIR / "rustc-wrapper"))
    # an access time moves once a day (relatime): a shorter period would take a holder in use
    cutoff = min(cutoff, time.time() - 2 * 86400)
    found = []
    try:
        names = sorted(os.listdir(folder))
    except OSError:
        return []
    for name in names:
        match = HOLDER_FILE.match(name)
        if match is None or match.group(1) in current:
            continue
        path = folder / name
        try:
            st = path.lstat()
        except OSError:
            continue
        # a run reads the file: the access time says when it was last used, where the disk
        # keeps it (relatime, Linux's default, updates it once a day)
        if st.st_uid != os.getuid() or max(st.st_atime, st.st_mtime) >= cutoff:
            continue
        if stat.S_ISREG(st.st_mode) or stat.S_ISDIR(st.st_mode):
            found.append((path, st.st_blocks * 512))
    return found


def _packaged_wrapper() -> Path:
    return data_dir("templates") / "rustc-wrapper.sh"


def _wrapper_holder_id(wrapper: Path) -> str | None:
    """The holder id a wrapper script names (bk_holder_id=...), None without one."""
    try:
        text = wrapper.read_text(encoding="utf-8")
    except OSError:
        return None
    found = HOLDER_ID.search(text)
    return found.group(1) if found else None


def _enabled(root: Path) -> bool:
    if not (root / PROFILE_FILE).is_file():
        return True
    try:
        return load_profile(root).model.admission.enabled
    except Exception:  # a broken profile is `buildkit check`'s business
        return True


def _reason(failed: Path) -> str:
    """The first line of rustc's messages that says what went wrong."""
    try:
        lines = [line.strip() for line in failed.read_text(errors="replace").splitlines()]
    except OSError:
        return "unknown (the log cannot be read)"
    errors = [line for line in lines if line.startswith("error")]
    return (errors or [line for line in lines if line] or ["no message"])[0][:200]


def inspect(root: Path) -> dict[str, Any]:
    """The section's data (docs/doctor.md, ``admission``)."""
    folder, ident = budget_dir(), holder_id(root)
    holder = folder / f"holder-{ident}" if folder and ident else None
    forced = os.environ.get("BUILDKIT_ADMISSION_HOLDER") == "perl"
    failed = holder.with_name(holder.name + ".failed") if holder else None
    if holder is None or forced:
        runs = "perl"
    elif holder.is_file() and os.access(holder, os.X_OK):
        runs = "compiled"
    elif failed and failed.is_file():
        runs = "perl"
    else:
        runs = "compiled, once the next compile has built it"
    return {
        "enabled": _enabled(root),
        "dir": str(folder) if folder else None,
        "holder": str(holder) if holder else None,
        "holder_runs": runs,
        "forced_perl": forced,
        "build_failed": _reason(failed) if failed and failed.is_file() else None,
        "build_log": str(failed) if failed and failed.is_file() else None,
    }


def describe(section: dict[str, Any]) -> list[str]:
    if not section["enabled"]:
        return ["admission: off (admission.enabled: false)"]
    lines = [f"admission: the CPU budget's folder is {section['dir'] or 'unknown (no HOME)'}"]
    why = ""
    if section["forced_perl"]:
        why = " (BUILDKIT_ADMISSION_HOLDER=perl)"
    elif section["build_failed"]:
        why = f" (the compiled holder could not be built: {section['build_failed']})"
    runs = {
        "compiled": "the compiled holder",
        "perl": "the perl holder",
        "compiled, once the next compile has built it": (
            "the compiled holder, once the next compile has built it"
        ),
    }.get(section["holder_runs"], section["holder_runs"])
    lines.append(f"  slots are held by: {runs}{why}")
    return lines


def findings(section: dict[str, Any]) -> list[dict[str, Any]]:
    if not section["enabled"] or not section["build_failed"]:
        return []
    return [
        {
            "kind": "admission_holder_failed",
            "path": section["build_log"],
            "message": (
                "the compiled admission holder could not be built "
                f"({section['build_failed']}): perl holds the slots, about 6 ms more for "
                "every compile, test binary and doctest"
            ),
            "recommendation": (
                f"fix what the log says, then delete {section['build_log']}: the next compile "
                "builds it (or run .config/buildkit/bin/rustc-wrapper --buildkit-holder)"
            ),
            "bytes": 0,
        }
    ]
