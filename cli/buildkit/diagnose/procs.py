"""Orphaned build processes: cargo, rustc and test binaries of this user that nothing owns.

Read from ``/proc`` (Linux). A process is a *build process* when its program is cargo, rustc,
rustdoc, clippy, a build script, or a test binary (a file named ``<crate>-<16 hex>``, as Cargo
names them in ``deps/``). It is an *orphan* when it is in no live cq holder's process group and
the chain of build processes above it ends at process 1 (or at a ``systemd`` user manager):
whoever started it is gone.
"""

from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass

from buildkit.diagnose.queue import Holder

BUILD_PROGRAMS = frozenset(
    {
        "cargo",
        "rustc",
        "rustdoc",
        "clippy-driver",
        "cargo-clippy",
        "cargo-nextest",
        "build-script-build",
        "build-script-main",
    }
)
TEST_BINARY = re.compile(r"^[A-Za-z0-9_]+-[0-9a-f]{16}$")
REAPERS = frozenset({"systemd", "init"})


@dataclass(frozen=True)
class Proc:
    pid: int
    ppid: int
    pgid: int
    uid: int
    comm: str
    program: str
    cmd: str
    age_seconds: float
    cpu_seconds: float
    cwd: str | None

    @property
    def cpu_percent(self) -> float:
        """Average CPU since the process started (what ``ps`` shows as %CPU)."""
        return 100.0 * self.cpu_seconds / self.age_seconds if self.age_seconds > 0 else 0.0

    @property
    def is_build(self) -> bool:
        return self.program in BUILD_PROGRAMS or bool(TEST_BINARY.match(self.program))


def _read(path: str) -> bytes | None:
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except OSError:
        return None


def processes(proc_root: str = "/proc") -> dict[int, Proc]:
    ticks = os.sysconf("SC_CLK_TCK")
    uptime_raw = _read(f"{proc_root}/uptime")
    uptime = float(uptime_raw.split()[0]) if uptime_raw else time.monotonic()
    found: dict[int, Proc] = {}
    try:
        names = os.listdir(proc_root)
    except OSError:
        return found
    for name in names:
        if not name.isdigit():
            continue
        base = f"{proc_root}/{name}"
        raw = _read(f"{base}/stat")
        cmdline = _read(f"{base}/cmdline")
        if raw is None or cmdline is None:
            continue
        try:
            uid = os.stat(base).st_uid
        except OSError:
            continue
        text = raw.decode("utf-8", "replace")
        comm = text[text.index("(") + 1 : text.rindex(")")]
        rest = text[text.rindex(")") + 2 :].split()
        # fields after the name: state ppid pgrp session tty tpgid flags minflt cminflt majflt
        # cmajflt utime stime cutime cstime priority nice threads itrealvalue starttime ...
        ppid, pgid = int(rest[1]), int(rest[2])
        cpu = (int(rest[11]) + int(rest[12])) / ticks
        age = max(uptime - int(rest[19]) / ticks, 0.0)
        argv = [a.decode("utf-8", "replace") for a in cmdline.split(b"\0") if a]
        program = os.path.basename(argv[0]) if argv else comm
        try:
            exe = os.path.basename(os.readlink(f"{base}/exe"))
        except OSError:
            exe = ""
        if program not in BUILD_PROGRAMS and not TEST_BINARY.match(program) and exe:
            program = exe if (exe in BUILD_PROGRAMS or TEST_BINARY.match(exe)) else program
        try:
            cwd: str | None = os.readlink(f"{base}/cwd")
        except OSError:
            cwd = None
        found[int(name)] = Proc(
            int(name), ppid, pgid, uid, comm, program, " ".join(argv) or comm, age, cpu, cwd
        )
    return found


def _ancestors(pid: int, table: dict[int, Proc]) -> set[int]:
    seen: set[int] = set()
    while pid in table and pid not in seen:
        seen.add(pid)
        pid = table[pid].ppid
    return seen


def orphans(holders: list[Holder], table: dict[int, Proc] | None = None) -> list[Proc]:
    """This user's build processes that no live cq holds and whose starter is gone."""
    table = processes() if table is None else table
    uid = os.getuid()
    held = {h.pgid for h in holders}
    mine = _ancestors(os.getpid(), table)
    found = []
    for proc in table.values():
        if proc.uid != uid or not proc.is_build or proc.pgid in held or proc.pid in mine:
            continue
        top = proc
        seen = {proc.pid}
        while top.ppid in table and table[top.ppid].is_build and top.ppid not in seen:
            top = table[top.ppid]
            seen.add(top.pid)
        parent = table.get(top.ppid)
        if top.ppid <= 1 or parent is None or parent.comm in REAPERS:
            found.append(proc)
    return sorted(found, key=lambda p: p.pid)
