"""Two machines share compiled units through a real Redis (cache.remote), and a store that
goes down costs speed, never a build."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from cache.team_helpers import SECRET, Machine, Redis, profile_text


@pytest.fixture
def machines(tmp_path: Path, redis: Redis) -> Iterator[list[Machine]]:
    names = ("m1", "m2", "alone")
    made = [Machine.create(tmp_path, name, profile_text(redis.url)) for name in names]
    yield made
    for machine in made:
        machine.stop_servers()


TEST = ("test", "--workspace", "--", "--test-threads=1")


def _test_lines(out: str) -> list[str]:
    """The test results, without timings (`finished in 0.00s`)."""
    return [re.sub(r"finished in [0-9.]+s", "finished", line) for line in out.splitlines()]


def _level(stats: dict[str, object], name: str) -> dict[str, int]:
    levels = stats["stats"]["multi_level"]  # type: ignore[index]
    return next(level for level in levels if name in level["name"])  # type: ignore[no-any-return]


@pytest.mark.slow
def test_second_machine_gets_hits_from_the_first(machines: list[Machine], redis: Redis) -> None:
    first, second, alone = machines
    built = first.cargo(*TEST)
    assert built.returncode == 0, built.stderr
    assert redis.keys() > 0, "the first machine wrote nothing to the team's store"
    assert _level(first.stats(), "redis")["writes"] > 0

    again = second.cargo(*TEST)
    assert again.returncode == 0, again.stderr
    stats = second.stats()
    remote = _level(stats, "redis")
    # the registry crates (itoa, memchr, cfg-if) and the workspace's own lib come from Redis:
    # the second machine's store was empty and its checkout is at another path
    assert remote["hits"] >= 3, stats
    assert _level(stats, "disk")["hits"] == 0
    assert _test_lines(again.stdout) == _test_lines(built.stdout)
    assert "test result: ok. 2 passed" in again.stdout
    assert SECRET not in built.stderr + again.stderr

    # side by side: the same cold build without the team's store compiles every unit itself
    solo = alone.cargo(*TEST, extra={"BUILDKIT_CACHE_REMOTE": "off"})
    assert solo.returncode == 0, solo.stderr
    assert not list(alone.cache_dir.glob("sock-*")), "remote off still started a remote server"
    compiled_alone = alone.stats("sock")["stats"]["compilations"]
    compiled_second = stats["stats"]["compilations"]
    assert compiled_second + remote["hits"] <= compiled_alone + 1, (compiled_second, remote)
    assert compiled_second < compiled_alone
    assert _test_lines(solo.stdout) == _test_lines(built.stdout)


@pytest.mark.slow
def test_store_going_down_mid_build_costs_speed_not_the_build(
    machines: list[Machine], redis: Redis
) -> None:
    first, second, _ = machines
    built = first.cargo(*TEST)
    assert built.returncode == 0, built.stderr
    assert redis.process is not None
    # the second machine's build stops the store from its build script, after its
    # dependencies came from the store and before its last crates are compiled
    stop = {"TEAM_CACHE_STOP_PID": str(redis.process.pid), "TEAM_CACHE_PORT": str(redis.port)}
    again = second.cargo(*TEST, extra=stop)
    assert again.returncode == 0, again.stderr
    assert redis.process.poll() is not None, "the build script did not stop the store"
    assert _test_lines(again.stdout) == _test_lines(built.stdout)
    assert _level(second.stats(), "redis")["hits"] >= 3
    # the next compile the cache can keep (a library; the wrapper sends binaries and test
    # harnesses straight to rustc) checks the store first: it is down, so one line says so,
    # once, and the compile uses the local store alone
    lib = second.home / "after.rs"
    lib.write_text("pub fn f() {}\n")
    wrapper = second.checkout / ".config" / "buildkit" / "bin" / "rustc-wrapper"
    wrapped = subprocess.run(
        [str(wrapper), "rustc", "--crate-name", "after", "--crate-type", "lib", "--emit=link",
         "--out-dir", str(second.home), str(lib)],
        env=second.env(stop),
        capture_output=True,
        text=True,
        check=False,
    )  # fmt: skip
    assert wrapped.returncode == 0, wrapped.stderr
    said = [line for line in (again.stderr + wrapped.stderr).splitlines() if "team cache" in line]
    assert len(said) == 1, again.stderr + wrapped.stderr
    assert f"(redis, 127.0.0.1:{redis.port}) is unreachable" in said[0], said
    assert second.stats("sock")["stats"]["compile_requests"] >= 1

    report = second.doctor()
    remote = report["cache"]["remote"]
    assert remote["reachable"] is False and remote["set_aside"] is True
    assert remote["where"] == f"127.0.0.1:{redis.port}"
    kinds = [f["kind"] for f in report["findings"]]
    assert "cache_remote_unreachable" in kinds
    assert [c["set"] for c in remote["credentials"]] == [True]
