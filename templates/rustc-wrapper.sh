#!/bin/sh
# buildkit's rustc wrapper: `build.rustc-wrapper` in .cargo/config.toml (docs/cq.md, "Sharing").
# cargo runs it for every compiler process, however cargo was started (cq, the shim, an agent,
# an IDE): `rustc-wrapper RUSTC ARGS...`. It hands the compile to the compiler cache, so a unit
# compiled once (in any worktree or repository of this user) is not compiled again, and runs
# RUSTC itself when the cache is off, not installed or cannot start: a build never depends on
# the cache, only its speed does.
# `rustc-wrapper --stats` prints the statistics of the server this repository's builds use
# here (the workflow's job summary shows them), without starting one.
# Environment: BUILDKIT_CACHE=off skips the cache; BUILDKIT_CACHE_REMOTE (read-write, read-only,
# off) says how this machine uses the team's store (cache.remote); BUILDKIT_CACHE_DIR moves its store and socket;
# BUILDKIT_SCCACHE names the sccache binary; SCCACHE_* settings of yours are kept.
# Portable: POSIX sh (dash, bash 3.2).
set -u

# >>> profile values >>>
# `buildkit render` replaces these lines with buildkit.yaml's values and the pinned version
# (render/cache.py, ci/pins.yaml).
bk_engine=sccache
bk_sccache_version=''
bk_cache_size=10G
# the team's shared store (cache.remote; render/cache_remote.py): kind, a hash of its settings
# (names the server's socket: sccache reads its config once, at server start), the mode when
# $BUILDKIT_CACHE_REMOTE is unset, the host:port checked before using it, the engine's
# non-secret settings, and ENGINE_VARIABLE=NAME_OF_THE_VARIABLE_HOLDING_IT for credentials
bk_remote_kind=none
bk_remote_id=''
bk_remote_default=off
bk_remote_probe=''
bk_remote_settings=''
bk_remote_credentials=''
# <<< profile values <<<

# compile directly; asked for statistics, say why there are none
bk_direct() {
    if [ "${1:-}" = --stats ]; then
        echo "buildkit: the compiler cache is off or not installed here: no statistics" >&2
        exit 1
    fi
    exec "$@"
}

case ${BUILDKIT_CACHE:-on} in
    off | 0 | false | no) bk_direct "$@" ;;
esac
[ "$bk_engine" = sccache ] || bk_direct "$@"

# Compiles the cache cannot keep go straight to rustc: sccache would run them uncached anyway,
# after a round trip to its server. That is most compiles of the edit-test loop: incremental
# ones (the workspace's own crates), metadata-only ones (check, clippy: no `link` emitted),
# and those that link (binaries, tests, build scripts, proc-macros). Probes (`rustc -vV`) too.
if [ "${1:-}" != --stats ]; then
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
fi

bk_sc=${BUILDKIT_SCCACHE:-}
if [ -z "$bk_sc" ]; then
    # on PATH, else where `buildkit init`/`provision` install the pinned version (no root)
    bk_sc=$(command -v sccache 2>/dev/null) \
        || bk_sc=${XDG_DATA_HOME:-${HOME:-/nonexistent}/.local/share}/buildkit/tools/sccache-$bk_sccache_version/bin/sccache
fi
[ -x "$bk_sc" ] || bk_direct "$@"

# The store and the server's unix socket live in a directory of this user's own, mode 0700:
# never a predictable path in a shared directory, and no TCP port another user could reach.
bk_dir=${BUILDKIT_CACHE_DIR:-${XDG_CACHE_HOME:-${HOME:-/nonexistent}/.cache}/buildkit/sccache}
if [ ! -d "$bk_dir" ]; then
    (umask 077 && mkdir -p -- "$bk_dir") 2>/dev/null || bk_direct "$@"
fi
# a directory someone else owns, or one this process may not write (an agent's sandbox):
# compile without the cache rather than fail
if [ ! -O "$bk_dir" ] || [ ! -w "$bk_dir" ]; then bk_direct "$@"; fi
# a unix socket's path must fit in 104 bytes (macOS; 108 on Linux)
[ "${#bk_dir}" -le 96 ] || bk_direct "$@"

# cargo has read these already (it passes `-C incremental` itself, and sccache compiles such
# units uncached); left set, sccache refuses every compile when one is 1, and hashes them into
# every key, so `cq test` (which sets CARGO_INCREMENTAL=0) and `cargo build` would never share
unset CARGO_INCREMENTAL CARGO_BUILD_INCREMENTAL

# The team's store: used when this destination's mode says so and its host answers. A store
# that is down would cost each compile sccache's 60-second lookup timeout (and a server start
# its 10-second startup timeout), so its host is checked before each compile (a TCP connect,
# 2-second timeout; a failed check sets it aside for 5 minutes) and builds go on with the
# local store alone.
bk_sock=sock
bk_remote_mode=off
if [ "$bk_remote_kind" != none ]; then
    bk_remote_mode=${BUILDKIT_CACHE_REMOTE:-$bk_remote_default}
    case $bk_remote_mode in
        read-write | read-only) ;;
        *) bk_remote_mode=off ;;
    esac
    # the socket's longer name must still fit (see above)
    [ "${#bk_dir}" -le 86 ] || bk_remote_mode=off
fi
if [ "$bk_remote_mode" != off ] && [ -n "$bk_remote_probe" ] && command -v perl >/dev/null 2>&1; then
    # prints "up", "down", or "went-down" (this process found it down first: it says so)
    bk_state=$(perl -MSocket -MFcntl -e '
        my ($dir, $id, $target) = @ARGV;
        my $down = "$dir/remote-down-$id";
        my @st = stat $down;
        if (@st && time - $st[9] < 300) { print "down"; exit }
        my ($host, $port) = $target =~ /^\[?(.*?)\]?:(\d+)$/ or exit;
        my ($err, @found) = Socket::getaddrinfo($host, $port, {socktype => SOCK_STREAM});
        my $up = 0;
        for my $ai ($err ? () : @found) {
            socket(my $s, $ai->{family}, SOCK_STREAM, 0) or next;
            fcntl($s, F_SETFL, fcntl($s, F_GETFL, 0) | O_NONBLOCK);
            if (connect($s, $ai->{addr})) { $up = 1; last }
            next unless $!{EINPROGRESS};
            my $w = ""; vec($w, fileno($s), 1) = 1;
            next unless select(undef, $w, undef, 2) > 0;
            if (unpack("i", getsockopt($s, SOL_SOCKET, SO_ERROR)) == 0) { $up = 1; last }
        }
        if ($up) { unlink $down; print "up"; exit }
        my $first = sysopen my $f, $down, O_CREAT | O_EXCL | O_WRONLY, 0600;
        utime undef, undef, $down;
        print $first ? "went-down" : "down";
    ' "$bk_dir" "$bk_remote_id" "$bk_remote_probe" 2>/dev/null) || bk_state=up
    case $bk_state in
        went-down)
            echo "buildkit: the team cache ($bk_remote_kind, $bk_remote_probe) is unreachable; building with the local cache only (checked again in 5 minutes)" >&2
            bk_remote_mode=off ;;
        down) bk_remote_mode=off ;;
    esac
fi
if [ "$bk_remote_mode" != off ]; then
    set -f
    bk_ifs=$IFS
    IFS='
'
    # the engine's settings, unless set in the environment already (yours win)
    for bk_kv in $bk_remote_settings; do
        bk_name=${bk_kv%%=*}
        case $bk_name in '' | *[!A-Za-z0-9_]*) continue ;; esac
        eval "bk_isset=\${$bk_name+x}"
        # shellcheck disable=SC2163 # exports the NAME=VALUE the variable holds
        [ -n "$bk_isset" ] || export "$bk_kv"
    done
    # credentials: copied from the variables the profile names, never written anywhere
    for bk_kv in $bk_remote_credentials; do
        bk_name=${bk_kv%%=*}
        bk_from=${bk_kv#*=}
        case $bk_name$bk_from in '' | *[!A-Za-z0-9_]*) continue ;; esac
        eval "bk_value=\${$bk_from:-}"
        eval "bk_isset=\${$bk_name+x}"
        if [ -n "$bk_value" ] && [ -z "$bk_isset" ]; then export "$bk_name=$bk_value"; fi
    done
    IFS=$bk_ifs
    set +f
    SCCACHE_MULTILEVEL_CHAIN=${SCCACHE_MULTILEVEL_CHAIN:-disk,$bk_remote_kind}
    export SCCACHE_MULTILEVEL_CHAIN
    case $bk_remote_kind in
        redis) bk_rw=REDIS ;; s3) bk_rw=S3 ;; *) bk_rw=WEBDAV ;;
    esac
    if [ "$bk_remote_mode" = read-only ]; then
        export "SCCACHE_${bk_rw}_RW_MODE=READ_ONLY"
        bk_sock=sock-$bk_remote_id-ro
    else
        export "SCCACHE_${bk_rw}_RW_MODE=READ_WRITE"
        bk_sock=sock-$bk_remote_id-rw
    fi
fi

SCCACHE_DIR=${SCCACHE_DIR:-$bk_dir/store}
SCCACHE_SERVER_UDS=${SCCACHE_SERVER_UDS:-$bk_dir/$bk_sock}
SCCACHE_CACHE_SIZE=${SCCACHE_CACHE_SIZE:-$bk_cache_size}
export SCCACHE_DIR SCCACHE_SERVER_UDS SCCACHE_CACHE_SIZE

if [ "${1:-}" = --stats ]; then
    if [ -S "$SCCACHE_SERVER_UDS" ]; then exec "$bk_sc" --show-stats; fi
    echo "buildkit: no compiler cache server ran here ($SCCACHE_SERVER_UDS)" >&2
    exit 1
fi

"$bk_sc" "$@"
bk_rc=$?
# sccache exits 2 when it could not serve the compile at all (its server failed to start, its
# store is broken); rustc never exits 2. Compile directly: the line sccache printed says why.
if [ "$bk_rc" = 2 ]; then
    # with the team's store, the likeliest cause: set it aside like a failed check
    if [ "$bk_remote_mode" != off ]; then
        : >"$bk_dir/remote-down-$bk_remote_id" 2>/dev/null
        echo "buildkit: the team cache ($bk_remote_kind) did not start; building without it (checked again in 5 minutes)" >&2
    fi
    bk_direct "$@"
fi
exit "$bk_rc"
