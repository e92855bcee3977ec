"""The profile loader is total: any input, random or mutated from a real profile, gives a
profile or one line of BadInput (exit 2) in bounded time, never a traceback."""

from __future__ import annotations

import random
import time
from pathlib import Path

import pytest

from buildkit.errors import EXIT_BAD_INPUT, BadInput
from buildkit.profile import load_profile, parse_profile

SEED = 20261127
INPUTS = 10_000
# Generous: a slow shared CI machine, not a speed target (bench/ holds those).
BOUND_SECONDS = 2.0

VALID = """\
# a realistic profile
version: 1
workspace:
  kind: workspace
  members:
    - name: greet
      path: crates/greet
      features: [loud]
    - {name: hello, path: crates/hello}
  default_members: [greet]
cargo:
  jobs: 4
  incremental: false
  linker: lld
  dependency_debug: line-tables-only
env:
  vars:
    CARGO_TERM_COLOR: always
    DEPTH: 3
cq:
  scope: user
  grace_seconds: 10
hakari:
  enabled: true
ci:
  os: [ubuntu-latest, macos-latest]
  timeout_minutes: 30
"""

TOKENS = [
    "[", "]", "{", "}", ",", ":", ": ", "- ", "? ", "&a ", "*a", "!!str ", "!!python/name:x ",
    "!!binary ", "%YAML 1.1\n", "---\n", "...\n", "'", '"', "\\", "#", "|\n", ">\n", "\t", "\n",
    "  ", "\ufeff", "\u2028", "é", "null", "~", "true",
    "99999999999999999999999999", "-1", "1e400", ".inf", "0x1F", "2024-13-45", "<<: ",
]  # fmt: skip


HOSTILE = ["\x00", "\x07", "\x1b", "\ud800", "\x85", "\ufffe"]


def mutate(text: str, rng: random.Random) -> str:
    for _ in range(rng.randint(1, 6)):
        at = rng.randint(0, len(text))
        op = rng.randrange(7)
        if op == 6 and rng.random() < 0.3:  # rarer, or they would hide every other problem
            text = text[:at] + rng.choice(HOSTILE) + text[at:]
        elif op == 0:
            text = text[:at] + rng.choice(TOKENS) + text[at:]
        elif op == 1:
            text = text[:at] + text[at + rng.randint(1, 20) :]
        elif op == 2:
            end = min(len(text), at + rng.randint(1, 40))
            text = text[:end] + text[at:end] * rng.randint(1, 8) + text[end:]
        elif op == 3:
            lines = text.split("\n")
            rng.shuffle(lines)
            text = "\n".join(lines)
        elif op == 4:
            text = text[:at] + chr(rng.randrange(0, 0x110000)) + text[at:]
        else:
            text = text[:at] + rng.choice("[{") * rng.randint(1, 100) + text[at:]
    return text


def random_text(rng: random.Random) -> str:
    pieces = [rng.choice([*TOKENS, "version", "cargo", "jobs", "a", "1", " "]) for _ in range(60)]
    return "".join(rng.sample(pieces, rng.randint(1, len(pieces))))


def check(text: str) -> None:
    started = time.process_time()  # CPU time: the bound is on work, not on a busy machine
    try:
        parse_profile(text, root=Path(), path=Path("buildkit.yaml"))
    except BadInput as exc:
        message = str(exc)
        assert exc.exit_code == EXIT_BAD_INPUT
        assert message.startswith("buildkit.yaml"), message
        assert "\n" not in message and "\r" not in message, repr(message)
    elapsed = time.process_time() - started
    assert elapsed < BOUND_SECONDS, (elapsed, text[:200])


def test_ten_thousand_random_and_mutated_profiles() -> None:
    rng = random.Random(SEED)  # noqa: S311 (reproducible inputs, not secrets)
    check(VALID)
    for number in range(INPUTS):
        text = mutate(VALID, rng) if number % 3 else random_text(rng)
        try:
            check(text)
        except Exception as exc:  # a traceback: show the input that caused it
            raise AssertionError(f"input #{number} {text[:300]!r}") from exc


def test_random_bytes_on_disk(tmp_path: Path) -> None:
    rng = random.Random(SEED)  # noqa: S311 (reproducible inputs, not secrets)
    for number in range(300):
        raw = (
            rng.randbytes(rng.randint(0, 200))
            if number % 2
            else mutate(VALID, rng).encode("utf-8", "surrogatepass")
        )
        (tmp_path / "buildkit.yaml").write_bytes(raw)
        try:
            load_profile(tmp_path)
        except BadInput as exc:
            assert "\n" not in str(exc), repr(str(exc))
            assert str(exc).startswith(str(tmp_path / "buildkit.yaml")), str(exc)


BOMB = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{n}: &{n} [{', '.join([f'*{p}'] * 9)}]\n" for p, n in zip("abcdefgh", "bcdefghi", strict=True)
)


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("version: 1\nx: \x00\n", "buildkit.yaml:2: character #x0000 is not allowed"),
        ("version: 1\n? [a, b]\n: 1\n", "buildkit.yaml:2: (top level): a key must be"),
        ("version: 1\ncargo: " + "[" * 10_000, "buildkit.yaml:2:"),
        (BOMB, "buildkit.yaml:2: aliases (*name) are not supported"),
        ("version: 1\ncq:\n  grace_seconds: 99999999999999999999999\n", "buildkit.yaml:3: cq."),
        ("version: 1\ncargo:\n  jobs: 4097\n", "buildkit.yaml:3: cargo.jobs"),
        ("version: 1\nenv:\n  vars:\n    A: 9223372036854775808\n", "buildkit.yaml:4: env.vars.A"),
        ("version: 1\nwhen: 2024-13-45\n", "buildkit.yaml:2: this value cannot be read"),
        ("version: 1\n" + "#" * 300_000, "buildkit.yaml: 300011 characters; a profile is at most"),
    ],
    ids=[
        "nul",
        "complex-key",
        "deep",
        "alias-bomb",
        "huge-int",
        "jobs-max",
        "env-int",
        "date",
        "too-big",
    ],
)
def test_hostile_profiles_get_one_line_naming_the_line(text: str, needle: str) -> None:
    started = time.process_time()  # CPU time: the bound is on work, not on a busy machine
    with pytest.raises(BadInput) as caught:
        parse_profile(text, root=Path(), path=Path("buildkit.yaml"))
    assert time.process_time() - started < BOUND_SECONDS
    assert str(caught.value).startswith(needle), str(caught.value)
    assert "\n" not in str(caught.value)


def test_the_largest_inputs_are_refused_or_read_in_bounded_time() -> None:
    many_keys = "version: 1\n" + "".join(f"k{i}: 1\n" for i in range(40_000))
    for text in [many_keys[:262_000], many_keys, "version: 1\ncargo: " + "[" * 262_000]:
        check(text)
