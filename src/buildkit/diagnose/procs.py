"""Orphaned build processes: cargo, rustc and test binaries of this user that nothing owns.

The process table comes from psutil, the same way on Linux and macOS. A process is a *build
process* when its program is cargo, rustc, rustdoc, clippy, a build script, or a test binary
(a file named ``<crate>-<16 hex>``, as Cargo names them). It is an *orphan* when the chain of
its ancestors up to a reaper holds only build processes and shells or command wrappers (sh,
bash, env, timeout, xargs, make, …), and none of them is a live cq holder's or a live
terminal session's (a controlling terminal whose session leader lives). The reaper is
process 1 (init or systemd on Linux, launchd on macOS) or a subreaper that adopts orphans
(``systemd --user``, tini, docker-init). Whoever started the chain is gone: an agent ran
``bash -c "cargo test"`` and died, and the shell, re-parented, still waits on cargo.

Only orphans whose working directory lies in the repository's worktrees (or its target dirs)
are listed; the others are counted. ``stop`` signals only this user's processes inside the
repository, the whole process group when every member of it qualifies.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace

import psutil

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
# Programs that only start another program and wait for it: a chain of them (and build
# processes) up to a reaper is what an agent's dead session leaves behind.
WRAPPERS = frozenset(
    {
        "sh", "bash", "zsh", "dash", "fish", "ksh", "mksh", "ash", "busybox",
        "env", "timeout", "nice", "nohup", "xargs", "time", "setsid", "stdbuf", "ionice",
        "chrt", "taskset", "make", "gmake",
    }
)  # fmt: skip
TEST_BINARY = re.compile(r"^[A-Za-z0-9_]+-[0-9a-f]{16}$")
# Processes that adopt orphans: process 1 everywhere, and the subreapers seen in practice
REAPERS = {
    "linux": frozenset({"systemd", "init", "tini", "docker-init", "dumb-init"}),
    "darwin": frozenset({"launchd"}),
}
CPU_SAMPLE_SECONDS = 0.3


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
    started: float = 0.0  # creation time (psutil), to tell a reused pid apart
    cpu_percent: float = 0.0  # measured over a short sample; 100 = one core
    sid: int = 0  # session id (the session leader's pid)
    tty: str | None = None  # the controlling terminal, if any

    @property
    def is_build(self) -> bool:
        return self.program in BUILD_PROGRAMS or bool(TEST_BINARY.match(self.program))

    @property
    def is_wrapper(self) -> bool:
        return self.comm in WRAPPERS or self.program in WRAPPERS


def _program(name: str, exe: str, cmdline: list[str]) -> str:
    candidates = [os.path.basename(cmdline[0]) if cmdline else "", os.path.basename(exe), name]
    for candidate in candidates:
        if candidate in BUILD_PROGRAMS or TEST_BINARY.match(candidate):
            return candidate
    return next((c for c in candidates if c), name)


def processes() -> dict[int, Proc]:
    """Every process psutil can see; fields it may not read (another user's cwd) are None."""
    now = time.time()
    found: dict[int, Proc] = {}
    attrs = [
        "pid", "ppid", "name", "exe", "cmdline", "uids", "cwd", "create_time", "cpu_times",
        "terminal",
    ]  # fmt: skip
    for process in psutil.process_iter(attrs):
        info = process.info
        try:
            pgid = os.getpgid(info["pid"])
            sid = os.getsid(info["pid"])
        except OSError:
            continue
        cmdline = info.get("cmdline") or []
        uids = info.get("uids")
        times = info.get("cpu_times")
        created = float(info.get("create_time") or now)
        found[info["pid"]] = Proc(
            pid=info["pid"],
            ppid=info.get("ppid") or 0,
            pgid=pgid,
            uid=uids.real if uids is not None else -1,
            comm=info.get("name") or "",
            program=_program(info.get("name") or "", info.get("exe") or "", cmdline),
            cmd=" ".join(cmdline) or (info.get("name") or ""),
            age_seconds=max(now - created, 0.0),
            cpu_seconds=(times.user + times.system) if times is not None else 0.0,
            cwd=info.get("cwd"),
            started=created,
            sid=sid,
            tty=info.get("terminal"),
        )
    return found


def sample_cpu(procs: list[Proc], seconds: float = CPU_SAMPLE_SECONDS) -> list[Proc]:
    """The CPU share each process uses now (``top``'s %CPU: 880 is almost nine cores)."""
    handles: dict[int, psutil.Process] = {}
    for proc in procs:
        with contextlib.suppress(psutil.Error):
            handle = psutil.Process(proc.pid)
            handle.cpu_percent(None)  # starts the measurement
            handles[proc.pid] = handle
    if handles:
        time.sleep(seconds)
    out = []
    for proc in procs:
        percent = 0.0
        if proc.pid in handles:
            with contextlib.suppress(psutil.Error):
                percent = handles[proc.pid].cpu_percent(None)
        out.append(_replace_cpu(proc, percent))
    return out


def _replace_cpu(proc: Proc, percent: float) -> Proc:
    return replace(proc, cpu_percent=percent)


def is_reaper(proc: Proc | None, pid: int, platform: str = sys.platform) -> bool:
    if pid <= 1 or proc is None:
        return True
    return proc.comm in REAPERS.get(platform, REAPERS["linux"])


def inside(path: str | None, roots: Iterable[str]) -> bool:
    if not path:
        return False
    real = os.path.realpath(path)
    for root in roots:
        base = os.path.realpath(root).rstrip(os.sep)
        if real == base or real.startswith(base + os.sep):
            return True
    return False


@dataclass
class Orphans:
    listed: list[Proc] = field(default_factory=list)  # in the repository's worktrees
    elsewhere: int = 0  # orphans of this user outside the repository: counted, not listed
    # The shells and wrappers above the listed ones, up to the reaper: stopped with them.
    wrappers: list[Proc] = field(default_factory=list)


def orphans(
    holders: list[Holder],
    scope: list[str],
    table: dict[int, Proc] | None = None,
    *,
    platform: str = sys.platform,
    uid: int | None = None,
    self_pid: int | None = None,
) -> Orphans:
    """This user's build processes that no live cq holds and whose starter is gone; those
    whose working directory is inside ``scope`` are listed, the rest counted."""
    table = processes() if table is None else table
    uid = os.getuid() if uid is None else uid
    held = {h.pgid for h in holders}
    mine = _ancestors(os.getpid() if self_pid is None else self_pid, table)
    result = Orphans()
    wrappers: dict[int, Proc] = {}
    for proc in table.values():
        if proc.uid != uid or not proc.is_build or proc.pid in mine:
            continue
        chain = _chain_to_reaper(proc, table, platform)
        if chain is None or any(_owned(p, held, holders, table) for p in chain):
            continue
        if inside(proc.cwd, scope):
            result.listed.append(proc)
            wrappers.update((p.pid, p) for p in chain if not p.is_build and p.uid == uid)
        else:
            result.elsewhere += 1
    result.listed.sort(key=lambda p: p.pid)
    result.wrappers = sorted(wrappers.values(), key=lambda p: p.pid)
    return result


def _chain_to_reaper(proc: Proc, table: dict[int, Proc], platform: str) -> list[Proc] | None:
    """``proc`` and its ancestors below the reaper, when they are all build processes or
    wrappers; None when something else (an editor, an agent, a terminal) is among them."""
    chain = [proc]
    while not is_reaper(table.get(chain[-1].ppid), chain[-1].ppid, platform):
        parent = table[chain[-1].ppid]
        if parent in chain or not (parent.is_build or parent.is_wrapper):
            return None
        chain.append(parent)
    return chain


def _owned(proc: Proc, held: set[int], holders: list[Holder], table: dict[int, Proc]) -> bool:
    """A live cq holder's process, or one of a live terminal session's (its controlling
    terminal's session leader still runs: a user's shell, never an orphan)."""
    if proc.pgid in held or any(h.pid == proc.pid for h in holders):
        return True
    leader = table.get(proc.sid)
    return proc.tty is not None and leader is not None and leader.sid == proc.sid


def _ancestors(pid: int, table: dict[int, Proc]) -> set[int]:
    seen: set[int] = set()
    while pid in table and pid not in seen:
        seen.add(pid)
        pid = table[pid].ppid
    return seen


# ---------------------------------------------------------------------------------------------
# stopping


@dataclass
class Stopped:
    pid: int
    program: str
    how: str  # "process group <pgid>" or "process"
    signal: str  # the last signal sent: TERM, or KILL after the grace period
    gone: bool


def _still_same(proc: Proc) -> psutil.Process | None:
    """The live process ``proc`` describes, or None when it exited (or its pid was reused)."""
    try:
        handle = psutil.Process(proc.pid)
        if abs(handle.create_time() - proc.started) > 1.0 or handle.uids().real != proc.uid:
            return None
        if handle.status() == psutil.STATUS_ZOMBIE:
            return None
        return handle
    except psutil.Error:
        return None


def _group_is_ours(pgid: int, allowed: Callable[[Proc], bool], table: dict[int, Proc]) -> bool:
    members = [p for p in table.values() if p.pgid == pgid]
    return bool(members) and pgid != os.getpgrp() and all(allowed(p) for p in members)


def stop(
    targets: list[Proc],
    scope: list[str],
    grace_seconds: float,
    *,
    uid: int | None = None,
) -> list[Stopped]:
    """TERM, then KILL after ``grace_seconds``; the whole process group when every member is
    this user's and inside ``scope``, else the process alone. Never another user's process or
    one outside the repository."""
    uid = os.getuid() if uid is None else uid

    def allowed(proc: Proc) -> bool:
        return proc.uid == uid and inside(proc.cwd, scope) and proc.pid != os.getpid()

    chosen = [p for p in targets if allowed(p)]
    table = processes()
    report: dict[int, Stopped] = {}
    for sig, name in ((signal.SIGTERM, "TERM"), (signal.SIGKILL, "KILL")):
        live = [p for p in chosen if _still_same(p) is not None]
        if not live:
            break
        signalled_groups: set[int] = set()
        for proc in live:
            if proc.pgid in signalled_groups:  # went with its group's signal
                how = f"process group {proc.pgid}"
                report[proc.pid] = Stopped(proc.pid, proc.program, how, name, False)
                continue
            if _group_is_ours(proc.pgid, allowed, table):
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(proc.pgid, sig)
                signalled_groups.add(proc.pgid)
                how = f"process group {proc.pgid}"
            else:
                handle = _still_same(proc)
                if handle is not None:
                    with contextlib.suppress(psutil.Error):
                        handle.send_signal(sig)
                how = "process"
            report[proc.pid] = Stopped(proc.pid, proc.program, how, name, False)
        if sig == signal.SIGTERM:
            deadline = time.monotonic() + grace_seconds
            while time.monotonic() < deadline and any(_still_same(p) for p in live):
                time.sleep(0.05)
        table = processes()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and any(_still_same(p) for p in chosen):
        time.sleep(0.05)
    for stopped in report.values():
        proc = next(p for p in chosen if p.pid == stopped.pid)
        stopped.gone = _still_same(proc) is None
    return sorted(report.values(), key=lambda s: s.pid)
