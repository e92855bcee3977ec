"""The typed profile, generated from the schema by
``python -m buildkit.profile.codegen``; do not edit (tests/core/test_profile_model.py
fails when it is stale)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

WorkspaceKind = Literal["workspace", "package"]
CargoDependencyDebug = Literal[
    "none",
    "line-directives-only",
    "line-tables-only",
    "limited",
    "full",
]
CargoLinker = Literal["none", "mold", "lld"]
CargoSplitDebuginfo = Literal["off", "packed", "unpacked"]
CqScope = Literal["user", "repository"]
CacheEngine = Literal["sccache", "none"]
CacheRemoteKind = Literal["none", "redis", "s3", "webdav", "gha"]
CacheRemoteModeRepository = Literal["read-write", "read-only", "off"]
CacheRemoteModeLaptops = Literal["read-write", "read-only", "off"]
CacheRemoteModeDevcontainer = Literal["read-write", "read-only", "off"]
CacheRemoteModeCi = Literal["read-write", "read-only", "off"]
CacheRemoteModeCiPullRequests = Literal["read-write", "read-only", "off"]
HakariResolver = Literal["1", "2", "3"]
HakariDepFormatVersion = Literal["1", "2", "3", "4"]
HakariUnifyTargetHost = Literal["none", "auto", "unify-if-both", "replicate-target-on-host"]
HakariWorkspaceHackLineStyle = Literal["full", "version-only", "workspace-dotted"]
MachineShell = Literal["auto", "zsh", "bash"]
MachineFastLinker = Literal["none", "mold", "lld"]


@dataclass(frozen=True)
class WorkspaceMember:
    """WorkspaceMember"""

    name: str
    path: str
    features: tuple[str, ...]


@dataclass(frozen=True)
class WorkspaceSection:
    """Facts about the Cargo workspace, detected by `buildkit init` with `cargo metadata`."""

    kind: WorkspaceKind
    members: tuple[WorkspaceMember, ...]
    default_members: tuple[str, ...]


@dataclass(frozen=True)
class CargoSection:
    """Settings merged into the repository's `.cargo/config.toml`. buildkit manages only the keys
    it writes (each marked with a `# buildkit:` comment); every other key and comment stays as
    written.
    """

    config_path: str
    dependency_debug: CargoDependencyDebug | bool | None
    jobs: int | None
    build_dir: str | None
    incremental: bool | None
    linker: CargoLinker
    split_debuginfo: CargoSplitDebuginfo | None


@dataclass(frozen=True)
class EnvSection:
    """Environment settings: an owned env file any POSIX shell can source, and a marked block in
    `.envrc` for direnv that puts cq on PATH and loads the env file.
    """

    file: str
    direnv: bool
    vars: Mapping[str, str | int]


@dataclass(frozen=True)
class CqSection:
    """cq, the build queue: runs one CPU-heavy cargo command at a time across every worktree, with
    every core, in its own process group, with incremental compilation off for one-shot
    commands.
    """

    enabled: bool
    path: str
    scope: CqScope
    heavy_commands: tuple[str, ...]
    oneshot_commands: tuple[str, ...]
    burst: bool
    grace_seconds: int
    wait_timeout: int


@dataclass(frozen=True)
class CacheRemoteMode:
    """Per destination, `read-write` (fetch and store), `read-only` (fetch only) or `off` (YAML
    reads a bare `off` as false: both mean off). Typical: CI on pushes writes, everyone else
    reads, so what a laptop compiles with uncommitted changes never lands in the team's store.
    """

    repository: CacheRemoteModeRepository | bool
    laptops: CacheRemoteModeLaptops | bool
    devcontainer: CacheRemoteModeDevcontainer | bool
    ci: CacheRemoteModeCi | bool
    ci_pull_requests: CacheRemoteModeCiPullRequests | bool


@dataclass(frozen=True)
class CacheRemote:
    """The team's shared store behind the local one: a unit compiled on one laptop, CI runner or
    devcontainer is fetched by the others instead of compiled again (docs/cache.md). The local
    store stays in front (sccache's multi-level cache: disk first, then the remote); a remote
    that is down costs speed, never a build. Credentials are named, never written here: see
    `credentials`.
    """

    kind: CacheRemoteKind
    location: str
    endpoint: str
    region: str
    key_prefix: str
    mode: CacheRemoteMode
    credentials: Mapping[str, str]


@dataclass(frozen=True)
class CacheSection:
    """The compiler cache that shares compiled units across worktrees and repositories: each
    worktree builds in its own `target/`, and a unit compiled once (a registry crate, one
    feature set, one profile) is restored from the cache instead of compiled again, keyed by
    content, so nothing another worktree built can stand in for this one's code. buildkit
    renders a rustc wrapper (`.config/buildkit/bin/rustc-wrapper`, set as `build.rustc-wrapper`
    in the cargo config) that every compiler process passes through, however cargo was started;
    without the engine installed it compiles directly (docs/cq.md, "Sharing").
    """

    engine: CacheEngine
    max_size: str
    remote: CacheRemote


@dataclass(frozen=True)
class AdmissionSection:
    """Admission: every compiler process and every test binary or `cargo run` program of this user
    takes a slot of one CPU budget before it runs, however cargo was started (cq, a plain
    `cargo`, a login shell, an IDE, a runner such as cargo-watch). buildkit renders it at
    cargo's own extension points: the rustc wrapper (`build.rustc-wrapper`, shared with the
    compiler cache), a runner (`target.'cfg(all())'.runner`) and a rustdoc (`build.rustdoc`),
    all in `.config/buildkit/bin/`. A slot is a lock file, so the kernel frees it when its
    holder dies. Metadata-only compiles (check, clippy) are served first (docs/cq.md,
    "Admission").
    """

    enabled: bool
    jobs: int | None
    compile_only_slots: int
    runner: bool
    rustdoc: bool


@dataclass(frozen=True)
class GcSection:
    """Automatic cleanup of the target and build dirs: cq runs `buildkit gc` after a cargo command
    it queued, still holding the queue, at most once per `interval`, when `max_size` or
    `max_age` is set (docs/doctor.md). Where `buildkit` is not on PATH cq says so once and
    builds on.
    """

    max_size: str | None
    max_age: str | None
    interval: str


@dataclass(frozen=True)
class AgentsSection:
    """Coding agents (Claude Code, Codex, Cursor, …): a `cargo` shim that sends cargo through cq,
    instructions in `AGENTS.md` and `CLAUDE.md`, and Claude Code hooks in
    `.claude/settings.json` (docs/agents.md). Each part can be turned off; all are on by
    default.
    """

    shim_cargo: bool
    shim_dir: str
    agents_md: bool
    claude_md: bool
    claude_settings: bool
    sandbox_paths: bool
    codex_hooks: bool
    worktree_hooks: bool


@dataclass(frozen=True)
class HakariExcludeThirdParty:
    """HakariExcludeThirdParty"""

    name: str


@dataclass(frozen=True)
class HakariFinalExcludeThirdParty:
    """HakariFinalExcludeThirdParty"""

    name: str


@dataclass(frozen=True)
class HakariSection:
    """Feature unification with cargo-hakari: a workspace-hack crate makes every member build
    shared dependencies with one feature set (the article: 793 → 81 `.rlib` files, hashbrown 7 →
    1).
    """

    enabled: bool | None
    package: str
    path: str
    resolver: HakariResolver
    dep_format_version: HakariDepFormatVersion
    platforms: tuple[str, ...]
    exclude_members: tuple[str, ...]
    exclude_third_party: tuple[HakariExcludeThirdParty, ...]
    final_exclude_members: tuple[str, ...]
    final_exclude_third_party: tuple[HakariFinalExcludeThirdParty, ...]
    exact_versions: bool
    absolute_paths: bool
    builder_summary: bool
    output_single_feature: bool
    unify_target_host: HakariUnifyTargetHost | None
    workspace_hack_line_style: HakariWorkspaceHackLineStyle | None
    registries: Mapping[str, str]


@dataclass(frozen=True)
class CiSection:
    """A GitHub Actions workflow that builds with the same policy as the laptops: lint, tests over
    an OS matrix, the cargo-hakari drift check and `buildkit check`, with every action pinned to
    a commit (see docs/ci.md).
    """

    enabled: bool
    path: str
    branches: tuple[str, ...]
    os: tuple[str, ...]
    toolchain: str
    nextest: bool
    doctests: bool
    clippy_deny_warnings: bool
    clippy_targets: str
    test_targets: str
    test: bool
    clippy: bool
    fmt: bool
    msrv: str
    locked: bool
    timeout_minutes: int
    buildkit_check: bool
    buildkit_source: str
    python: str


@dataclass(frozen=True)
class DevcontainerSection:
    """A devcontainer with cq, cargo-hakari and the environment settings, the target directory on a
    named volume; and, on request, a Dev Container Feature that brings the same into any
    devcontainer (docs/devcontainer.md).
    """

    enabled: bool
    base_image: str
    target_volume: bool
    target_dir: str
    cargo_hakari_version: str | None
    post_create: str
    feature: bool


@dataclass(frozen=True)
class MachineSection:
    """What `buildkit provision` (the ansible role `buildkit_machine`) applies to a developer's
    machine, macOS or Linux, with the same render pipeline as the repository's files.
    """

    bin_dir: str
    install_cq: bool
    cargo_config: bool
    shell_env: bool
    shell: MachineShell
    rc_file: str | None
    install_hakari: bool
    fast_linker: MachineFastLinker


@dataclass(frozen=True)
class ProfileModel:
    """The whole profile, every default filled in."""

    version: int
    workspace: WorkspaceSection
    cargo: CargoSection
    env: EnvSection
    cq: CqSection
    cache: CacheSection
    admission: AdmissionSection
    gc: GcSection
    agents: AgentsSection
    hakari: HakariSection
    ci: CiSection
    devcontainer: DevcontainerSection
    machine: MachineSection
