"""AGENTS.md and CLAUDE.md: buildkit's instructions are a marked block in the user's file."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from buildkit.render.ownership import BLOCK_BEGIN, BLOCK_END, ManagedBlock
from conftest import run_buildkit

USER_AGENTS = "# Agents\n\nUse `just lint` before committing.\n<!-- a comment of mine -->\n"
USER_CLAUDE = "Be brief.\n\n## Style\n- tabs\n"  # no trailing blank line, odd headings

# User text that does not itself contain buildkit's markers.
user_text = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=200
).filter(lambda t: BLOCK_BEGIN not in t and BLOCK_END not in t and "\r" not in t)


def _markdown(body: str) -> ManagedBlock:
    return ManagedBlock(path="AGENTS.md", body=body, comment="<!--", comment_end=" -->")


@settings(max_examples=200, deadline=None)
@given(before=user_text, after=user_text, old=st.text(max_size=50), new=st.text(max_size=50))
def test_markdown_block_keeps_every_user_byte_and_is_idempotent(
    before: str, after: str, old: str, new: str
) -> None:
    old_body = old.replace(BLOCK_END, "") + "\n"
    new_body = new.replace(BLOCK_END, "") + "\n"
    first = _markdown(old_body).render(before)
    assert first.startswith(before)
    text = first + after
    again = _markdown(new_body).render(text)
    start = again.index(f"<!-- {BLOCK_BEGIN} -->")
    end = again.index(f"<!-- {BLOCK_END} -->\n") + len(f"<!-- {BLOCK_END} -->\n")
    assert again[:start] == first[: first.index(f"<!-- {BLOCK_BEGIN} -->")]
    assert again[end:] == after
    assert _markdown(new_body).render(again) == again
    assert not _markdown(new_body).user_edited(again)


def test_users_agents_and_claude_md_keep_their_bytes_through_init_and_a_second_render(
    example: Path,
) -> None:
    (example / "AGENTS.md").write_text(USER_AGENTS)
    (example / "CLAUDE.md").write_text(USER_CLAUDE)
    assert run_buildkit("init", example).exit_code == 0
    for name, mine in (("AGENTS.md", USER_AGENTS), ("CLAUDE.md", USER_CLAUDE)):
        text = (example / name).read_text()
        assert text.startswith(mine)
        assert "scripts/cq test" in text and "scripts/cq status" in text
        assert text.count("<!-- >>> buildkit >>> -->") == 1
        (example / name).write_text(text + "\nA line I added later.\n")
    second = run_buildkit("render", example)
    assert second.exit_code == 0, second.stderr
    for name, mine in (("AGENTS.md", USER_AGENTS), ("CLAUDE.md", USER_CLAUDE)):
        text = (example / name).read_text()
        assert text.startswith(mine) and text.endswith(
            "<<< buildkit <<< -->\n\nA line I added later.\n"
        )
    assert run_buildkit("check", example).exit_code == 0


def test_check_detects_a_hand_edit_of_buildkits_instructions(example: Path) -> None:
    assert run_buildkit("init", example).exit_code == 0
    claude = example / "CLAUDE.md"
    claude.write_text(claude.read_text().replace("Never kill", "Feel free to kill"))
    check = run_buildkit("check", example)
    assert check.exit_code == 1
    refused = run_buildkit("render", example)
    assert refused.exit_code == 1 and "CLAUDE.md was edited by hand" in refused.stderr
    assert "Feel free to kill" in claude.read_text()
    assert run_buildkit("render", "--force", example).exit_code == 0
    assert "Never kill" in claude.read_text()


def test_each_file_can_be_turned_off_and_the_cq_path_is_the_profiles(example: Path) -> None:
    (example / "buildkit.yaml").write_text(
        "version: 1\ncq:\n  path: tools/queue\nagents:\n  agents_md: false\n  shim_cargo: false\n"
    )
    assert run_buildkit("init", example).exit_code == 0
    assert not (example / "AGENTS.md").exists()
    claude = (example / "CLAUDE.md").read_text()
    assert "`tools/queue test`" in claude and "scripts/cq" not in claude
    assert "shim" not in claude and "goes through the same queue" not in claude
    assert not (example / ".config/buildkit/bin/cargo").exists()
    assert ".config/buildkit/bin" not in (example / ".envrc").read_text()


def test_turning_a_file_off_leaves_an_existing_block_alone(example: Path) -> None:
    assert run_buildkit("init", example).exit_code == 0
    before = (example / "AGENTS.md").read_text()
    profile = example / "buildkit.yaml"
    profile.write_text(profile.read_text() + "agents:\n  agents_md: false\n")
    assert run_buildkit("render", example).exit_code == 0
    assert (example / "AGENTS.md").read_text() == before
    assert run_buildkit("check", example).exit_code == 0


def test_claude_md_linked_to_agents_md_keeps_the_link_and_one_block(example: Path) -> None:
    (example / "AGENTS.md").write_text(USER_AGENTS)
    (example / "CLAUDE.md").symlink_to("AGENTS.md")
    assert run_buildkit("init", example).exit_code == 0
    profile = example / "buildkit.yaml"
    text = profile.read_text().replace("version: 1\n", "version: 1\ncq:\n  path: tools/q\n")
    profile.write_text(text)
    second = run_buildkit("render", example)
    assert second.exit_code == 0, second.stderr
    claude = example / "CLAUDE.md"
    assert claude.is_symlink() and str(claude.readlink()) == "AGENTS.md"
    text = (example / "AGENTS.md").read_text()
    assert text.startswith(USER_AGENTS)
    assert text.count("<!-- >>> buildkit >>> -->") == 1 and "`tools/q test`" in text
    assert run_buildkit("check", example).exit_code == 0
    # The link's other direction, and a link inside a folder of the repository, work alike.
    claude.unlink()
    (example / "AGENTS.md").rename(example / "docs.md")
    (example / "AGENTS.md").symlink_to("docs.md")
    claude.symlink_to("AGENTS.md")
    assert run_buildkit("render", example).exit_code == 0
    assert (example / "docs.md").read_text() == text
    assert run_buildkit("check", example).exit_code == 0


def test_a_block_file_linked_outside_the_repository_is_refused(example: Path) -> None:
    outside = example.parent / "elsewhere.md"
    outside.write_text("mine\n")
    (example / "CLAUDE.md").symlink_to(outside)
    ran = run_buildkit("init", example)
    assert ran.exit_code != 0
    lines = ran.stderr.strip().splitlines()
    assert len(lines) == 1 and "CLAUDE.md: leads outside the repository" in lines[0], ran.stderr
    assert outside.read_text() == "mine\n"
    assert (example / "CLAUDE.md").is_symlink()
    assert not (example / "buildkit.yaml").exists() or not (example / "AGENTS.md").exists()
