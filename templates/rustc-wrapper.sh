#!/bin/sh
# buildkit's rustc wrapper: `build.rustc-wrapper` in .cargo/config.toml (docs/cq.md, "Sharing").
# cargo runs it for every compiler process, however cargo was started (cq, the shim, an agent,
# an IDE): `rustc-wrapper RUSTC ARGS...`. It hands the compile to the compiler cache, so a unit
# compiled once (in any worktree or repository of this user) is not compiled again, and runs
# RUSTC itself when the cache is off, not installed or cannot start: a build never depends on
# the cache, only its speed does.
# Environment: BUILDKIT_CACHE=off skips the cache; BUILDKIT_CACHE_DIR moves its store and socket;
# BUILDKIT_SCCACHE names the sccache binary; SCCACHE_* settings of yours are kept.
# Portable: POSIX sh (dash, bash 3.2).
set -u

# >>> profile values >>>
# `buildkit render` replaces these lines with buildkit.yaml's values and the pinned version
# (render/cache.py, ci/pins.yaml).
bk_engine=sccache
bk_sccache_version=''
bk_cache_size=10G
# <<< profile values <<<

case ${BUILDKIT_CACHE:-on} in
    off | 0 | false | no) exec "$@" ;;
esac
[ "$bk_engine" = sccache ] || exec "$@"

# Compiles the cache cannot keep go straight to rustc: sccache would run them uncached anyway,
# after a round trip to its server. That is most compiles of the edit-test loop: incremental
# ones (the workspace's own crates), metadata-only ones (check, clippy: no `link` emitted),
# and those that link (binaries, tests, build scripts, proc-macros). Probes (`rustc -vV`) too.
bk_prev='' bk_link=''
for bk_a in "$@"; do
    case $bk_prev in
        -C) case $bk_a in incremental=*) exec "$@" ;; esac ;;
        --crate-type) case $bk_a in bin | proc-macro | dylib | cdylib) exec "$@" ;; esac ;;
        --emit) case $bk_a in *link*) bk_link=1 ;; esac ;;
    esac
    case $bk_a in
        -Cincremental=* | --test | --crate-type=bin | --crate-type=proc-macro) exec "$@" ;;
        --emit=*link*) bk_link=1 ;;
    esac
    bk_prev=$bk_a
done
[ -n "$bk_link" ] || exec "$@"

bk_sc=${BUILDKIT_SCCACHE:-}
if [ -z "$bk_sc" ]; then
    # on PATH, else where `buildkit init`/`provision` install the pinned version (no root)
    bk_sc=$(command -v sccache 2>/dev/null) \
        || bk_sc=${XDG_DATA_HOME:-${HOME:-/nonexistent}/.local/share}/buildkit/tools/sccache-$bk_sccache_version/bin/sccache
fi
[ -x "$bk_sc" ] || exec "$@"

# The store and the server's unix socket live in a directory of this user's own, mode 0700:
# never a predictable path in a shared directory, and no TCP port another user could reach.
bk_dir=${BUILDKIT_CACHE_DIR:-${XDG_CACHE_HOME:-${HOME:-/nonexistent}/.cache}/buildkit/sccache}
if [ ! -d "$bk_dir" ]; then
    (umask 077 && mkdir -p -- "$bk_dir") 2>/dev/null || exec "$@"
fi
# a directory someone else owns, or one this process may not write (an agent's sandbox):
# compile without the cache rather than fail
if [ ! -O "$bk_dir" ] || [ ! -w "$bk_dir" ]; then exec "$@"; fi
# a unix socket's path must fit in 104 bytes (macOS; 108 on Linux)
[ "${#bk_dir}" -le 96 ] || exec "$@"

# cargo has read these already (it passes `-C incremental` itself, and sccache compiles such
# units uncached); left set, sccache refuses every compile when one is 1, and hashes them into
# every key, so `cq test` (which sets CARGO_INCREMENTAL=0) and `cargo build` would never share
unset CARGO_INCREMENTAL CARGO_BUILD_INCREMENTAL

SCCACHE_DIR=${SCCACHE_DIR:-$bk_dir/store}
SCCACHE_SERVER_UDS=${SCCACHE_SERVER_UDS:-$bk_dir/sock}
SCCACHE_CACHE_SIZE=${SCCACHE_CACHE_SIZE:-$bk_cache_size}
export SCCACHE_DIR SCCACHE_SERVER_UDS SCCACHE_CACHE_SIZE

"$bk_sc" "$@"
bk_rc=$?
# sccache exits 2 when it could not serve the compile at all (its server failed to start, its
# store is broken); rustc never exits 2. Compile directly: the line sccache printed says why.
if [ "$bk_rc" = 2 ]; then exec "$@"; fi
exit "$bk_rc"
