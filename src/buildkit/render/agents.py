"""Coding agents (docs/agents.md): the ``cargo`` shim that sends cargo through cq, the build
instructions agents read from ``AGENTS.md`` and ``CLAUDE.md``, and Claude Code's hooks."""

from __future__ import annotations

import posixpath

from buildkit.profile import Profile
from buildkit.render import templating
from buildkit.render.merged_json import HookGroup, MergedJson
from buildkit.render.ownership import Artifact, ManagedBlock, OwnedFile, RetiredFile

# The instructions are a marked block in each file; the rest of the file stays the user's.
INSTRUCTION_FILES = {"agents_md": "AGENTS.md", "claude_md": "CLAUDE.md"}
CLAUDE_SETTINGS = ".claude/settings.json"
HOOKS_DIR = ".config/buildkit/hooks"
SESSION_START = f"{HOOKS_DIR}/claude-session-start.sh"
PRE_TOOL_USE = f"{HOOKS_DIR}/claude-pre-tool-use.pl"
CODEX_HOOKS = ".codex/hooks.json"
CODEX_PRE_TOOL_USE = f"{HOOKS_DIR}/codex-pre-tool-use.pl"
# Creates and removes worktrees as Claude Code does, ready to build (docs/agents.md): Claude
# Code's WorktreeCreate/WorktreeRemove hook, and `buildkit worktree add/remove` by hand.
WORKTREE_SCRIPT = f"{HOOKS_DIR}/worktree.pl"
# The folders outside the repository a build through cq writes, as Claude Code's settings
# name them (`~/` is the home folder): cq's state (queue lock, tickets, holder records) when
# XDG_RUNTIME_DIR is unset (templates/cq.sh, cq_state_path), and the compiler cache's store and
# socket (templates/rustc-wrapper.sh; without it the wrapper compiles directly, uncached). A
# sandboxed agent needs them.
CQ_STATE_PATH = "~/.cache/buildkit-cq"
CACHE_PATH = "~/.cache/buildkit/sccache"
# the CPU budget's slots and records (templates/rustc-wrapper.sh): every compile writes there
ADMISSION_PATH = "~/.cache/buildkit/admission"
SANDBOX_WRITE_PATHS = (CQ_STATE_PATH, CACHE_PATH, ADMISSION_PATH)


def sandbox_write_paths(profile: Profile) -> tuple[str, ...]:
    """Exactly the extra writable paths this profile's builds need."""
    paths = [CQ_STATE_PATH] if profile.model.cq.enabled else []
    if profile.model.cache.engine != "none":
        paths.append(CACHE_PATH)
    if profile.model.admission.enabled:
        paths.append(ADMISSION_PATH)
    return tuple(paths)


def shim_enabled(profile: Profile) -> bool:
    """The shim needs cq: without it there is no queue to send cargo to."""
    return profile.model.agents.shim_cargo and profile.model.cq.enabled


def shim_path(profile: Profile) -> str:
    return posixpath.join(profile.model.agents.shim_dir, "cargo")


def artifacts(profile: Profile) -> list[Artifact]:
    cq_on = profile.model.cq.enabled
    out = [_shim(profile)]
    if cq_on:
        out.extend(_instructions(profile))
    out.append(_worktree_script(profile))
    out.extend(_claude_hooks(profile, cq_on and profile.model.agents.claude_settings))
    out.extend(_codex_hooks(profile, cq_on and profile.model.agents.codex_hooks))
    return out


def _context(profile: Profile) -> dict[str, object]:
    cq_path = profile.model.cq.path
    return agent_context(
        profile,
        shim_on=shim_enabled(profile),
        cq_command=cq_path,
        cq_path=cq_path,
        shim_dir=profile.model.agents.shim_dir,
        hooks_dir=HOOKS_DIR,
    )


def agent_context(
    profile: Profile, *, shim_on: bool, cq_command: str, cq_path: str, shim_dir: str, hooks_dir: str
) -> dict[str, object]:
    """What the agent templates see, for a repository (relative paths) or a user's home
    (absolute ones): where cq, the shim and the hooks are relative to each other."""
    context = profile.template_context()
    context["profile"]["agents"] = {**context["profile"]["agents"], "shim_cargo": shim_on}
    context.update(
        cq_command=cq_command,
        shim_on=shim_on,
        cq_from_shim=posixpath.relpath(cq_path, shim_dir),
        shim_from_hook=posixpath.relpath(posixpath.join(shim_dir, "cargo"), hooks_dir),
        shim_dir_from_hook=posixpath.relpath(shim_dir, hooks_dir),
        agent_name="Claude Code",
        shim_on_path_at_run_time=False,
    )
    return context


def _shim(profile: Profile) -> Artifact:
    path = shim_path(profile)
    if not shim_enabled(profile):
        return RetiredFile(path=path, executable=True)
    body = templating.render("templates", "cargo-shim.sh.j2", _context(profile))
    return OwnedFile(path=path, body=body, executable=True)


def _instructions(profile: Profile) -> list[Artifact]:
    agents = profile.model.agents
    switches = {"agents_md": agents.agents_md, "claude_md": agents.claude_md}
    body = templating.render("templates", "agent-instructions.md.j2", _context(profile))
    return [
        ManagedBlock(path=path, body=body, comment="<!--", comment_end=" -->")
        for switch, path in INSTRUCTION_FILES.items()
        if switches[switch]
    ]


def _claude_hooks(profile: Profile, enabled: bool) -> list[Artifact]:
    """The hook scripts (owned) and their entries in .claude/settings.json (merged)."""
    session_on = enabled and shim_enabled(profile)
    out: list[Artifact] = []
    if session_on:
        body = templating.render("templates", "claude-session-start.sh.j2", _context(profile))
        out.append(OwnedFile(path=SESSION_START, body=body, executable=True))
    else:
        out.append(RetiredFile(path=SESSION_START, executable=True))
    if enabled:
        body = templating.render("templates", "claude-pre-tool-use.pl.j2", _context(profile))
        out.append(OwnedFile(path=PRE_TOOL_USE, body=body))
    else:
        out.append(RetiredFile(path=PRE_TOOL_USE))
    worktree_on = enabled and profile.model.agents.worktree_hooks
    groups = claude_hook_groups(
        f'"$CLAUDE_PROJECT_DIR"/{SESSION_START}' if session_on else None,
        f'"$CLAUDE_PROJECT_DIR"/{PRE_TOOL_USE}' if enabled else None,
        f'"$CLAUDE_PROJECT_DIR"/{WORKTREE_SCRIPT}' if worktree_on else None,
    )
    sandbox_on = enabled and profile.model.agents.sandbox_paths
    out.append(
        MergedJson(
            path=CLAUDE_SETTINGS,
            groups=groups,
            allow_write=sandbox_write_paths(profile) if sandbox_on else (),
            known_allow_write=SANDBOX_WRITE_PATHS,
        )
    )
    return out


def claude_hook_groups(
    session_start: str | None, pre_tool_use: str | None, worktree: str | None = None
) -> tuple[HookGroup, ...]:
    """buildkit's Claude Code hook groups, given each script as a shell word (None: absent).
    The same groups go into a repository's and a user's settings (`buildkit provision`)."""
    groups: list[HookGroup] = []
    if session_start is not None:
        groups.append(HookGroup("SessionStart", {"hooks": [_command(session_start)]}))
    if pre_tool_use is not None:
        hooks = [_command(f"perl {pre_tool_use}")]
        groups.append(HookGroup("PreToolUse", {"matcher": "Bash", "hooks": hooks}))
    if worktree is not None:
        # one script for both events: it reads which one from the input
        for event in ("WorktreeCreate", "WorktreeRemove"):
            groups.append(HookGroup(event, {"hooks": [_command(f"perl {worktree}")]}))
    return tuple(groups)


def worktree_copies(profile: Profile) -> list[str]:
    """buildkit's files a build reads that a repository may keep out of git: the worktree
    script copies each one the main checkout has and ignores into a new worktree. The rest of
    what buildkit renders (cq, the shim, the compiler-cache wrapper) is meant to be committed."""
    copies = [".cargo/config.toml", profile.model.env.file]
    if profile.model.env.direnv:
        copies.append(".envrc")
    return copies


def _worktree_script(profile: Profile) -> Artifact:
    if not profile.model.cq.enabled:
        return RetiredFile(path=WORKTREE_SCRIPT)
    context = _context(profile)
    context["worktree_copies"] = worktree_copies(profile)
    body = templating.render("templates", "worktree.pl.j2", context)
    return OwnedFile(path=WORKTREE_SCRIPT, body=body)


def _command(command: str) -> dict[str, str]:
    return {"type": "command", "command": command}


def _codex_hooks(profile: Profile, enabled: bool) -> list[Artifact]:
    """Codex's PreToolUse hook: the same script and answers as Claude Code's (Codex reads the
    same hook input and output), in `.codex/hooks.json`, which Codex loads in trusted projects.
    Codex has no session env file, so the script checks at run time whether the shim is first
    on PATH and denies a plain heavy cargo when it is not."""
    if not enabled:
        return [RetiredFile(path=CODEX_PRE_TOOL_USE), MergedJson(path=CODEX_HOOKS, groups=())]
    context = _context(profile)
    context.update(agent_name="Codex", shim_on_path_at_run_time=True)
    body = templating.render("templates", "claude-pre-tool-use.pl.j2", context)
    # Codex sets no project-folder variable for hooks: the repository's top, from git.
    script = f'"$(git rev-parse --show-toplevel)"/{CODEX_PRE_TOOL_USE}'
    hooks = [_command(f"perl {script}")]
    group = HookGroup("PreToolUse", {"matcher": "Bash", "hooks": hooks})
    return [
        OwnedFile(path=CODEX_PRE_TOOL_USE, body=body),
        MergedJson(path=CODEX_HOOKS, groups=(group,)),
    ]
