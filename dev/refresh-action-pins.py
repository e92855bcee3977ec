#!/usr/bin/env python3
"""Refresh ci/pins.yaml: resolve every pinned GitHub Action to the newest commit of its track.

    python3 dev/refresh-action-pins.py            # rewrite ci/pins.yaml in place
    python3 dev/refresh-action-pins.py --check    # exit 1 when a pin is behind (changes nothing)

For each action, `git ls-remote https://github.com/OWNER/REPO` lists the refs matching the
entry's `track` (`v6.*` for tags, a branch name for `kind: branch`); the highest release tag
(vX.Y.Z, no pre-releases) wins, and annotated tags are followed to their commit. Only the `sha`,
`ref` and `source` lines of an entry are rewritten; comments and everything else stay.

It needs github.com: where that is unreachable it says so and changes nothing (exit 2). Review
the diff and the actions' release notes before committing, then run `buildkit render` in each
repository (its `buildkit check` fails until then).
"""

from __future__ import annotations

import argparse
import datetime
import os
import re
import subprocess
import sys
from pathlib import Path

import yaml

PINS = Path(__file__).resolve().parent.parent / "ci" / "pins.yaml"
RELEASE = re.compile(r"^v(\d+)\.(\d+)\.(\d+)$")
SHA = re.compile(r"^[0-9a-f]{40}$")


class Offline(Exception):
    pass


def ls_remote(action: str, pattern: str) -> list[tuple[str, str]]:
    """(sha, ref name) pairs for `refs/…/pattern`; raises Offline when GitHub cannot be reached."""
    url = f"https://github.com/{action}"
    try:
        done = subprocess.run(
            ["git", "ls-remote", url, pattern],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
            env={**os.environ, "GIT_TERMINAL_PROMPT": "0"},
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise Offline(f"git ls-remote {url}: {exc}") from None
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise Offline(f"git ls-remote {url} failed: {last}")
    pairs = []
    for line in done.stdout.splitlines():
        sha, _, ref = line.partition("\t")
        if SHA.match(sha):
            pairs.append((sha, ref))
    return pairs


def _version(name: str) -> tuple[int, ...]:
    match = RELEASE.match(name)
    return tuple(int(part) for part in match.groups()) if match else ()


def newest(action: str, entry: dict[str, str]) -> tuple[str, str]:
    """The (sha, ref) an entry should pin now."""
    if entry["kind"] == "branch":
        refs = ls_remote(action, f"refs/heads/{entry['track']}")
        if len(refs) != 1:
            raise SystemExit(f"{action}: branch {entry['track']!r} not found on GitHub")
        return refs[0][0], entry["track"]
    commits: dict[str, str] = {}
    for sha, ref in ls_remote(action, f"refs/tags/{entry['track']}"):
        name = ref.removeprefix("refs/tags/")
        if name.endswith("^{}"):  # an annotated tag, peeled to its commit: prefer it
            commits[name[:-3]] = sha
        else:
            commits.setdefault(name, sha)
    releases = [name for name in commits if RELEASE.match(name)]
    if not releases:
        raise SystemExit(f"{action}: no release tag matches {entry['track']!r}")
    best = max(releases, key=_version)
    return commits[best], best


def rewrite(text: str, action: str, sha: str, ref: str, source: str) -> str:
    """Replace the sha/ref/source lines of one entry, leaving every other line alone."""
    lines = text.splitlines(keepends=True)
    start = lines.index(f"  {action}:\n")
    end = start + 1
    while end < len(lines) and (lines[end].startswith("    ") or not lines[end].strip()):
        end += 1
    block: list[str] = []
    skipping = False
    for line in lines[start + 1 : end]:
        if skipping and line.startswith("      "):
            continue  # continuation of a folded `source: >-`
        skipping = False
        if line.startswith("    sha: "):
            line = f'    sha: "{sha}"\n'  # quoted: an all-digit SHA would read as a number
        elif line.startswith("    ref: "):
            line = f"    ref: {ref}\n"
        elif line.startswith("    source:"):
            line = f"    source: {source}\n"
            skipping = True
        block.append(line)
    return "".join(lines[: start + 1] + block + lines[end:])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if a pin is behind")
    parser.add_argument("--pins", type=Path, default=PINS, help="the pins file (ci/pins.yaml)")
    args = parser.parse_args()
    text = args.pins.read_text(encoding="utf-8")
    actions = yaml.safe_load(text)["actions"]
    today = datetime.datetime.now(datetime.UTC).date().isoformat()
    behind = []
    try:
        for action, entry in actions.items():
            sha, ref = newest(action, entry)
            if (sha, ref) == (entry["sha"], entry["ref"]):
                print(f"up to date: {action} {ref}")
                continue
            behind.append(action)
            print(
                f"{'behind' if args.check else 'updated'}: {action} {entry['ref']} -> {ref} ({sha})"
            )
            source = f"git ls-remote https://github.com/{action} ({today})"
            text = rewrite(text, action, sha, ref, source)
    except Offline as exc:
        print(
            f"refresh-action-pins: cannot reach GitHub ({exc}); {args.pins} is unchanged. "
            "Run this where github.com is reachable (it needs only `git ls-remote`).",
            file=sys.stderr,
        )
        return 2
    if args.check:
        return 1 if behind else 0
    if behind:
        yaml.safe_load(text)  # never write a file that no longer parses
        args.pins.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
