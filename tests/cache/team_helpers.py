"""A real Redis as the team's store, and "machines" that build one small workspace through it.

Each machine has its own HOME, compiler cache dir and checkout path (the registry's crates are
read from the machine user's cargo home: the builds are ``--offline``), so the only thing two
machines share is the Redis server.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from conftest import build_file_tree, run_buildkit

PASSWORD_VARIABLE = "TEAM_CACHE_PASSWORD"
# a value that must never appear in a rendered file, a log line or doctor's output
SECRET = "s3cr3t-team-cache-pw-7f1c"

WORKSPACE: dict[str, str] = {
    "Cargo.toml": '[workspace]\nresolver = "2"\nmembers = ["crates/*"]\n',
    "crates/numfmt/Cargo.toml": (
        '[package]\nname = "numfmt"\nversion = "0.1.0"\nedition = "2021"\npublish = false\n\n'
        '[dependencies]\nitoa = "1"\nmemchr = "2"\ncfg-if = "1"\n'
    ),
    "crates/numfmt/src/lib.rs": (
        "cfg_if::cfg_if! {\n"
        '    if #[cfg(target_pointer_width = "64")] { pub const WIDTH: u32 = 64; }\n'
        "    else { pub const WIDTH: u32 = 32; }\n}\n"
        "pub fn render(n: u64) -> String { itoa::Buffer::new().format(n).to_owned() }\n"
        "pub fn commas(s: &str) -> usize { memchr::memchr_iter(b',', s.as_bytes()).count() }\n"
        "#[cfg(test)]\nmod tests {\n"
        '    #[test] fn renders() { assert_eq!(super::render(1234), "1234"); }\n'
        '    #[test] fn counts() { assert_eq!(super::commas("a,b,c"), 2); }\n}\n'
    ),
    "crates/report/Cargo.toml": (
        '[package]\nname = "report"\nversion = "0.1.0"\nedition = "2021"\npublish = false\n\n'
        '[dependencies]\nnumfmt = { path = "../numfmt" }\n'
    ),
    # stops the team's store when the test asks (TEAM_CACHE_STOP_PID): a build script runs in
    # the middle of a build, after the dependencies and before the crate it belongs to
    "crates/report/build.rs": (
        "use std::time::{Duration, Instant};\n"
        "fn main() {\n"
        '    println!("cargo:rerun-if-env-changed=TEAM_CACHE_STOP_PID");\n'
        '    let Ok(pid) = std::env::var("TEAM_CACHE_STOP_PID") else { return };\n'
        '    let port: u16 = std::env::var("TEAM_CACHE_PORT").unwrap().parse().unwrap();\n'
        '    assert!(std::process::Command::new("kill").arg(&pid).status().unwrap().success());\n'
        "    let deadline = Instant::now() + Duration::from_secs(30);\n"
        '    while std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {\n'
        '        assert!(Instant::now() < deadline, "the store did not stop");\n'
        "        std::thread::sleep(Duration::from_millis(20));\n"
        "    }\n}\n"
    ),
    "crates/report/src/main.rs": (
        'fn main() { println!("{} {}", numfmt::render(42), numfmt::WIDTH); }\n'
        "#[cfg(test)]\nmod tests {\n"
        '    #[test] fn line() { assert_eq!(numfmt::render(7) + "!", "7!"); }\n}\n'
    ),
}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class Redis:
    """redis-server on 127.0.0.1 (sccache 0.16's Redis client takes no unix socket), with a
    password so no other local user's process can use it, and no persistence."""

    directory: Path
    port: int = 0
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}"

    def start(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise AssertionError("redis-server is missing: run dev/setup.d/13-redis.sh")
        self.port = self.port or free_port()
        config = self.directory / "redis.conf"
        config.write_text(
            f'port {self.port}\nbind 127.0.0.1\nrequirepass {SECRET}\nsave ""\n'
            f"appendonly no\ndir {self.directory}\nlogfile {self.directory / 'redis.log'}\n",
            encoding="utf-8",
        )
        config.chmod(0o600)
        self.process = subprocess.Popen([binary, str(config)], stdout=subprocess.DEVNULL)
        deadline = time.monotonic() + 20
        while not self.answers():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"redis-server did not start on port {self.port}")
            time.sleep(0.05)

    def answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as conn:
                conn.sendall(f"AUTH {SECRET}\r\nPING\r\n".encode())
                reply = b""
                while b"PONG" not in reply:
                    chunk = conn.recv(64)
                    if not chunk:
                        return False
                    reply += chunk
                return True
        except OSError:
            return False

    def keys(self) -> int:
        """How many entries the store holds (DBSIZE)."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as conn:
            conn.sendall(f"AUTH {SECRET}\r\nDBSIZE\r\n".encode())
            reply = b""
            while reply.count(b"\r\n") < 2:
                reply += conn.recv(64)
        return int(reply.split(b"\r\n")[1].lstrip(b":"))

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(timeout=20)
        self.process = None


def profile_text(url: str, *, mode: str = "read-write") -> str:
    return (
        "version: 1\n"
        "cache:\n"
        "  remote:\n"
        "    kind: redis\n"
        f"    location: {url}\n"
        "    mode:\n"
        f"      repository: {mode}\n"
        "    credentials:\n"
        f"      SCCACHE_REDIS_PASSWORD: {PASSWORD_VARIABLE}\n"
    )


@dataclass
class Machine:
    """One developer's machine: a home, a compiler cache dir, a checkout path of its own."""

    name: str
    home: Path
    cache_dir: Path
    checkout: Path

    @classmethod
    def create(cls, base: Path, name: str, profile: str) -> Machine:
        home = base / name / "home"
        home.mkdir(parents=True)
        # the cache dir holds a unix socket: a short path of its own, mode 0700
        cache_dir = Path(tempfile.mkdtemp(prefix=f"bk-{name}-"))
        checkout = base / name / "src" / "numbers"
        build_file_tree(checkout, {**WORKSPACE, "buildkit.yaml": profile})
        ran = run_buildkit("render", checkout)
        assert ran.exit_code == 0, ran.stderr
        return cls(name, home, cache_dir, checkout)

    def env(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("SCCACHE_", "BUILDKIT_CACHE", "CARGO_TARGET_DIR"))
        }
        env.update(
            HOME=str(self.home),
            XDG_CACHE_HOME=str(self.home / ".cache"),
            BUILDKIT_CACHE_DIR=str(self.cache_dir),
            CARGO_HOME=os.environ.get("CARGO_HOME", str(Path.home() / ".cargo")),
            RUSTUP_HOME=os.environ.get("RUSTUP_HOME", str(Path.home() / ".rustup")),
            CARGO_TERM_COLOR="never",
            CARGO_INCREMENTAL="0",
        )
        env[PASSWORD_VARIABLE] = SECRET
        env.update(extra or {})
        return env

    def cargo(
        self, *args: str, extra: Mapping[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["cargo", args[0], "--offline", *args[1:]],
            cwd=self.checkout,
            env=self.env(extra),
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )

    def stats(self, sock: str = "sock-*") -> dict[str, Any]:
        """The running server's statistics (the socket the wrapper used)."""
        sockets = sorted(self.cache_dir.glob(sock))
        assert len(sockets) == 1, f"{self.name}: not one server {sock} in {self.cache_dir}"
        env = {**self.env(), "SCCACHE_SERVER_UDS": str(sockets[0])}
        out = subprocess.run(
            ["sccache", "--show-stats", "--stats-format=json"],
            env=env,
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        )
        data: dict[str, Any] = json.loads(out.stdout)
        return data

    def doctor(self) -> dict[str, Any]:
        """``buildkit doctor --json`` as this machine's user runs it, and its whole output."""
        done = subprocess.run(
            [sys.executable, "-m", "buildkit", "doctor", "--json", str(self.checkout)],
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert done.returncode in (0, 1), done.stderr
        assert SECRET not in done.stdout + done.stderr
        data: dict[str, Any] = json.loads(done.stdout)
        return data

    def stop_servers(self) -> None:
        for sock in self.cache_dir.glob("sock*"):
            env = {**self.env(), "SCCACHE_SERVER_UDS": str(sock)}
            subprocess.run(
                ["sccache", "--stop-server"], env=env, capture_output=True, check=False, timeout=60
            )
        shutil.rmtree(self.cache_dir, ignore_errors=True)
