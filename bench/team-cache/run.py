"""CI-shaped runs of one workspace with and without the team's compiler cache (docs/cache.md).

Not a test: it prints numbers for bench/team-cache/README.md. Each side is a fresh "runner":
its own home, compiler cache dir and checkout, a clean target dir, `cargo test --no-run`
(`--offline`: the registry's crates come from this machine's cargo home). The sides:

- cold: no compiler cache content and no remote (what a runner without caches does);
- rust-cache: the target dir a previous run left, restored by copying it first (the copy's
  time counts, as rust-cache's download and unpack would), no remote;
- team cache: a clean target dir, an empty local store, the remote warmed by a previous run
  (what a CI job gets from `cache.remote` after the first push).

CPU is user+system of cargo and everything it waited for, plus the sccache server's: the bench
starts the server itself, in the foreground (``SCCACHE_START_SERVER=1 SCCACHE_NO_DAEMON=1``)
with exactly the settings the rendered wrapper gives sccache, and reads its rusage with
``os.wait4`` after ``--stop-server`` (the server runs every compile it is asked for, cached or
not, so rustc's CPU is in its children's).

    .venv/bin/python bench/team-cache/run.py [--workspace bench/workspaces/seedlike]
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
# Redis's password: this run's own, so no other local user's process can use the store
SECRET = secrets.token_hex(16)
PROFILE = """version: 1
hakari:
  enabled: false
cache:
  remote:
    kind: redis
    location: {url}
    mode:
      repository: read-write
    credentials:
      SCCACHE_REDIS_PASSWORD: BENCH_CACHE_PASSWORD
"""


@dataclass
class Side:
    name: str
    wall: float
    cpu: float
    compiled: int
    hits: int


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def wait_for(condition: object, what: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise SystemExit(f"bench: {what} did not happen within {seconds:.0f} s")
        time.sleep(0.05)


def connects(family: int, address: object) -> bool:
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        try:
            probe.connect(address)  # type: ignore[arg-type]
        except OSError:
            return False
        return True


class Runner:
    """One fresh CI runner: home, cache dir (short: it holds a unix socket), checkout."""

    def __init__(self, base: Path, name: str, source: Path, url: str) -> None:
        self.name = name
        self.home = base / name / "home"
        self.home.mkdir(parents=True)
        self.cache_dir = Path(tempfile.mkdtemp(prefix=f"bk-bench-{name}-"))
        self.checkout = base / name / "ws"
        shutil.copytree(source, self.checkout, ignore=shutil.ignore_patterns("target"))
        # a fresh checkout's files are as new as the checkout (git writes them now), so cargo
        # rebuilds the workspace's own crates even over a restored target dir
        for path in self.checkout.rglob("*"):
            os.utime(path)
        (self.checkout / "buildkit.yaml").write_text(PROFILE.format(url=url))
        done = subprocess.run(
            [sys.executable, "-m", "buildkit", "render", str(self.checkout)],
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            raise SystemExit(f"bench: buildkit render failed: {done.stderr.strip()}")

    def env(self, remote: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("SCCACHE_", "BUILDKIT"))}
        env.update(
            HOME=str(self.home),
            BUILDKIT_CACHE_DIR=str(self.cache_dir),
            BUILDKIT_CACHE_REMOTE=remote,
            BENCH_CACHE_PASSWORD=SECRET,
            CARGO_HOME=os.environ.get("CARGO_HOME", str(Path.home() / ".cargo")),
            RUSTUP_HOME=os.environ.get("RUSTUP_HOME", str(Path.home() / ".rustup")),
            CARGO_INCREMENTAL="0",
            CARGO_TERM_COLOR="never",
        )
        return env

    def sccache_env(self, remote: str) -> dict[str, str]:
        """What the rendered wrapper gives sccache: the wrapper run with a stand-in sccache
        (``BUILDKIT_SCCACHE``) that prints its environment."""
        printer = self.cache_dir.parent / f"{self.cache_dir.name}-printenv"
        printer.write_text("#!/bin/sh\nexec env\n")
        printer.chmod(0o755)
        wrapper = self.checkout / ".config" / "buildkit" / "bin" / "rustc-wrapper"
        done = subprocess.run(
            ["sh", str(wrapper), "rustc", "-vV"],
            env={**self.env(remote), "BUILDKIT_SCCACHE": str(printer)},
            capture_output=True,
            text=True,
            check=True,
        )
        printer.unlink()
        return dict(line.split("=", 1) for line in done.stdout.splitlines() if "=" in line)

    def build(self, remote: str, sccache: str) -> Side:
        server_env = self.sccache_env(remote)
        sock = server_env["SCCACHE_SERVER_UDS"]
        server_env.update(SCCACHE_START_SERVER="1", SCCACHE_NO_DAEMON="1", SCCACHE_IDLE_TIMEOUT="0")
        server = subprocess.Popen(
            [sccache], env=server_env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        wait_for(lambda: connects(socket.AF_UNIX, sock), "the sccache server listening")
        started = time.monotonic()
        cargo = subprocess.Popen(
            ["cargo", "test", "--offline", "--workspace", "--no-run", "-q"],
            cwd=self.checkout,
            env={**self.env(remote), "SCCACHE_SERVER_UDS": sock},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        _, status, cargo_usage = os.wait4(cargo.pid, 0)
        wall = time.monotonic() - started
        cargo.returncode = os.waitstatus_to_exitcode(status)
        if cargo.returncode != 0:
            raise SystemExit(f"bench: {self.name}: cargo failed: {cargo.stderr.read().decode()}")
        stats_env = {**os.environ, "SCCACHE_SERVER_UDS": sock}
        stats = subprocess.run(
            [sccache, "--show-stats", "--stats-format=json"],
            env=stats_env,
            capture_output=True,
            text=True,
            check=True,
        )
        subprocess.run([sccache, "--stop-server"], env=stats_env, capture_output=True, check=True)
        _, _, server_usage = os.wait4(server.pid, 0)
        server.returncode = 0
        data = json.loads(stats.stdout)["stats"]
        # every side starts with an empty local store, so a hit is the remote's (sccache
        # reports no per-level numbers for a read-only chain)
        hits = sum(data["cache_hits"]["counts"].values())
        cpu = sum(u.ru_utime + u.ru_stime for u in (cargo_usage, server_usage))
        shutil.rmtree(self.cache_dir, ignore_errors=True)
        return Side(self.name, wall, cpu, data["compilations"], hits)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workspace", type=Path, default=REPO / "bench/workspaces/seedlike")
    args = parser.parse_args()
    sccache = shutil.which("sccache")
    redis_server = shutil.which("redis-server")
    if not sccache or not redis_server:
        raise SystemExit("bench: needs sccache and redis-server (dev/setup.d/12, 13)")
    base = Path(tempfile.mkdtemp(prefix="bk-team-cache-bench-"))
    port = free_port()
    config = base / "redis.conf"
    config.write_text(
        f'port {port}\nbind 127.0.0.1\nrequirepass {SECRET}\nsave ""\nappendonly no\ndir {base}\n'
    )
    redis = subprocess.Popen([redis_server, str(config)], stdout=subprocess.DEVNULL)
    try:
        wait_for(lambda: connects(socket.AF_INET, ("127.0.0.1", port)), "redis listening")
        url = f"redis://127.0.0.1:{port}"
        source = base / "source"
        shutil.copytree(args.workspace, source)
        if not (source / "Cargo.lock").exists():
            subprocess.run(
                ["cargo", "generate-lockfile", "--offline", "-q"], cwd=source, check=True
            )
        # the previous CI run: fills the remote (and leaves a target dir rust-cache would save)
        warm = Runner(base, "previous-run", source, url).build("read-write", sccache)
        previous_target = base / "previous-run" / "ws" / "target"
        sides = [warm]
        sides.append(Runner(base, "cold", source, url).build("off", sccache))
        restored = Runner(base, "rust-cache", source, url)
        started = time.monotonic()
        shutil.copytree(previous_target, restored.checkout / "target", symlinks=True)
        restore_wall = time.monotonic() - started
        side = restored.build("off", sccache)
        side.wall += restore_wall
        sides.append(side)
        sides.append(Runner(base, "team cache", source, url).build("read-only", sccache))
    finally:
        redis.terminate()
        redis.wait(timeout=30)
    cold = sides[1]
    print(f"workspace: {args.workspace.name}, cargo test --no-run, {os.cpu_count()} CPUs")
    print("| side | wall | CPU | units compiled | cache hits | wall vs cold | CPU vs cold |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for s in sides:
        print(
            f"| {s.name} | {s.wall:.1f} s | {s.cpu:.1f} s | {s.compiled} | {s.hits} | "
            f"{s.wall / cold.wall:.2f} | {s.cpu / cold.cpu:.2f} |"
        )
    shutil.rmtree(base, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
