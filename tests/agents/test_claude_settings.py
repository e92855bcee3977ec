""".claude/settings.json: buildkit's hook entries merged into the user's file; the rest kept."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from buildkit.render.agents import SANDBOX_WRITE_PATHS
from buildkit.render.merged_json import MARK, HookGroup, MergedJson
from conftest import run_buildkit

# Laid out as Claude Code writes it (JSON.stringify, two spaces): its bytes must all survive.
USER_SETTINGS: dict[str, Any] = {
    "$schema": "https://json.schemastore.org/claude-code-settings.json",
    "permissions": {
        "allow": ["Bash(git status)", "Bash(npm run lint:*)"],
        "deny": ["Read(./.env)"],
    },
    "env": {"GREETING": "héllo ✓"},
    "hooks": {
        "PreToolUse": [
            {
                "matcher": "Edit|Write",
                "hooks": [{"type": "command", "command": "./lint.sh", "timeout": 30}],
            }
        ],
        "SessionStart": [
            {"matcher": "startup", "hooks": [{"type": "command", "command": "echo hi"}]}
        ],
        "Stop": [{"hooks": [{"type": "command", "command": "notify-send done"}]}],
    },
    "model": "opus",
}


def _without_buildkit(data: dict[str, Any]) -> dict[str, Any]:
    copy = json.loads(json.dumps(data))
    for event, groups in list(copy.get("hooks", {}).items()):
        copy["hooks"][event] = [
            g for g in groups if not any(MARK in h["command"] for h in g["hooks"])
        ]
        if not copy["hooks"][event]:
            del copy["hooks"][event]
    if copy.get("hooks") == {}:
        del copy["hooks"]
    # buildkit's entries in the sandbox's writable paths (docs/agents.md: sandboxed agents)
    filesystem = copy.get("sandbox", {}).get("filesystem", {})
    if "allowWrite" in filesystem:
        filesystem["allowWrite"] = [
            p for p in filesystem["allowWrite"] if p not in SANDBOX_WRITE_PATHS
        ]
        if not filesystem["allowWrite"]:
            del filesystem["allowWrite"]
        if not filesystem:
            del copy["sandbox"]["filesystem"]
        if not copy["sandbox"]:
            del copy["sandbox"]
    return copy


def test_users_settings_keep_every_byte_outside_buildkits_entries(example: Path) -> None:
    original = json.dumps(USER_SETTINGS, indent=2, ensure_ascii=False) + "\n"
    path = example / ".claude/settings.json"
    path.parent.mkdir()
    path.write_text(original)
    assert run_buildkit("init", example).exit_code == 0
    merged = json.loads(path.read_text())
    assert json.dumps(_without_buildkit(merged), indent=2, ensure_ascii=False) + "\n" == original
    ours = [
        (event, g)
        for event, groups in merged["hooks"].items()
        for g in groups
        if any(MARK in h["command"] for h in g["hooks"])
    ]
    assert [(e, g.get("matcher")) for e, g in ours] == [
        ("PreToolUse", "Bash"),
        ("SessionStart", None),
        ("WorktreeCreate", None),
        ("WorktreeRemove", None),
    ]
    # the user's own groups come first, in their order
    assert merged["hooks"]["PreToolUse"][0] == USER_SETTINGS["hooks"]["PreToolUse"][0]
    first = path.read_bytes()
    assert run_buildkit("render", example).exit_code == 0
    assert path.read_bytes() == first
    assert run_buildkit("check", example).exit_code == 0


def test_an_up_to_date_file_keeps_its_own_layout(example: Path) -> None:
    assert run_buildkit("init", example).exit_code == 0
    path = example / ".claude/settings.json"
    compact = json.dumps(json.loads(path.read_text()), separators=(",", ":"))
    path.write_text(compact)
    assert run_buildkit("render", example).exit_code == 0
    assert path.read_text() == compact


def test_check_detects_a_hand_edit_of_buildkits_entries_and_render_refuses(example: Path) -> None:
    assert run_buildkit("init", example).exit_code == 0
    path = example / ".claude/settings.json"
    data = json.loads(path.read_text())
    data["hooks"]["PreToolUse"][0]["matcher"] = "Edit"
    edited = json.dumps(data, indent=2) + "\n"
    path.write_text(edited)
    assert run_buildkit("check", example).exit_code == 1
    refused = run_buildkit("render", example)
    assert refused.exit_code == 1 and ".claude/settings.json was edited by hand" in refused.stderr
    assert path.read_text() == edited
    assert run_buildkit("render", "--force", example).exit_code == 0
    assert json.loads(path.read_text())["hooks"]["PreToolUse"][0]["matcher"] == "Bash"


def test_turning_settings_off_removes_only_buildkits_entries(example: Path) -> None:
    original = json.dumps(USER_SETTINGS, indent=2, ensure_ascii=False) + "\n"
    path = example / ".claude/settings.json"
    path.parent.mkdir()
    path.write_text(original)
    assert run_buildkit("init", example).exit_code == 0
    (example / "buildkit.yaml").write_text(
        (example / "buildkit.yaml")
        .read_text()
        .replace("agents:\n", "agents:\n  claude_settings: false\n", 1)
        if "agents:\n" in (example / "buildkit.yaml").read_text()
        else (example / "buildkit.yaml").read_text() + "agents:\n  claude_settings: false\n"
    )
    ran = run_buildkit("render", example)
    assert ran.exit_code == 0, ran.stderr
    assert path.read_text() == original
    assert not (example / ".config/buildkit/hooks/claude-pre-tool-use.pl").exists()
    assert not (example / ".config/buildkit/hooks/claude-session-start.sh").exists()


def test_invalid_json_is_one_clear_line_and_nothing_is_written(example: Path) -> None:
    path = example / ".claude/settings.json"
    path.parent.mkdir()
    path.write_text('{\n  "permissions": {\n    "allow": [,]\n  }\n}\n')
    ran = run_buildkit("init", example)
    assert ran.exit_code != 0
    assert ".claude/settings.json:3: invalid JSON" in ran.stderr and ran.stderr.count("\n") == 1
    assert not (example / ".config/buildkit/bin/cargo").exists()


# -- the merge itself, on settings it was not written for -------------------------------------

json_leaf = st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=12))
json_value = st.recursive(
    json_leaf,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=10,
)
user_group = st.fixed_dictionaries(
    {
        "hooks": st.lists(
            st.fixed_dictionaries({"type": st.just("command"), "command": st.text(max_size=20)}),
            max_size=2,
        )
    },
    optional={"matcher": st.text(max_size=8)},
).filter(lambda g: not any(MARK in h["command"] for h in g["hooks"]))
user_settings = st.fixed_dictionaries(
    {},
    optional={
        "hooks": st.dictionaries(
            st.sampled_from(["PreToolUse", "SessionStart", "Stop"]),
            st.lists(user_group, min_size=1, max_size=2),
            min_size=1,  # an empty `hooks` or event list is not kept (docs/agents.md)
        ),
        "permissions": json_value,
        "other": json_value,
    },
)
OURS = MergedJson(
    path=".claude/settings.json",
    groups=(
        HookGroup("SessionStart", {"hooks": [{"type": "command", "command": "start.sh"}]}),
        HookGroup(
            "PreToolUse",
            {"matcher": "Bash", "hooks": [{"type": "command", "command": "perl pre.pl"}]},
        ),
    ),
)


@settings(max_examples=200, deadline=None)
@given(data=user_settings, indent=st.sampled_from([2, 4, "\t"]))
def test_merge_keeps_the_users_data_is_idempotent_and_reverts_cleanly(
    data: dict[str, Any], indent: int | str
) -> None:
    text = json.dumps(data, indent=indent, ensure_ascii=False) + "\n"
    merged = OURS.render(text)
    assert merged is not None
    assert _without_buildkit(json.loads(merged)) == data
    assert OURS.render(merged) == merged and not OURS.user_edited(merged)
    if data:  # the file's own indent is kept, so a Claude-style file keeps its bytes
        assert (
            json.dumps(_without_buildkit(json.loads(merged)), indent=indent, ensure_ascii=False)
            + "\n"
            == text
        )
    reverted = MergedJson(path=OURS.path, groups=()).render(merged)
    assert reverted is not None and json.loads(reverted) == data


def test_documented_json_details_newline_exponents_duplicates_and_a_mark_removed() -> None:
    no_newline = OURS.render('{\n    "model": "opus"\n}')
    assert no_newline is not None and not no_newline.endswith("\n")
    assert no_newline.startswith('{\n    "model": "opus",\n    "hooks": {\n')
    details = OURS.render('{"n": 1e3, "k": 1, "k": 2}\n')
    assert details is not None
    assert json.loads(details)["n"] == 1000.0 and '"n": 1000.0' in details
    assert json.loads(details)["k"] == 2
    # a group whose mark the user deleted is theirs: kept, and buildkit adds its own again
    merged = OURS.render("{}\n")
    assert merged is not None
    unmarked = merged.replace(MARK, " # mine: ", 1)
    again = OURS.render(unmarked)
    assert again is not None and not OURS.user_edited(unmarked)
    groups = [g for gs in json.loads(again)["hooks"].values() for g in gs]
    assert len(groups) == 3 and sum(" # mine: " in g["hooks"][0]["command"] for g in groups) == 1


def test_session_start_hook_adds_the_path_line_once(tmp_path: Path, example: Path) -> None:
    assert run_buildkit("init", example).exit_code == 0
    env_file = tmp_path / "env"
    env_file.write_text("export OTHER=1\n")
    hook = example / ".config/buildkit/hooks/claude-session-start.sh"
    for _ in range(3):
        ran = subprocess.run(
            [str(hook)],
            input="{}",
            env={"PATH": "/usr/bin:/bin", "CLAUDE_ENV_FILE": str(env_file)},
            capture_output=True,
            text=True,
        )
        assert (ran.returncode, ran.stdout, ran.stderr) == (0, "", "")
    shim_dir = (example / ".config/buildkit/bin").resolve()
    assert env_file.read_text() == f"export OTHER=1\nexport PATH='{shim_dir}':\"$PATH\"\n"
    assert (
        subprocess.run(
            ["sh", "-c", f'. "{env_file}"; command -v cargo'],
            env={"PATH": "/usr/bin:/bin"},
            capture_output=True,
            text=True,
        ).stdout
        == f"{shim_dir}/cargo\n"
    )
