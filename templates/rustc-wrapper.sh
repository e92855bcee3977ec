#!/bin/sh
# buildkit's rustc wrapper: `build.rustc-wrapper` in .cargo/config.toml (docs/cq.md, "Admission"
# and "Sharing"). cargo runs it for every compiler process, however cargo was started (cq, the
# shim, an agent, an IDE, a login shell, a runner such as cargo-watch): `rustc-wrapper RUSTC
# ARGS...`. Two jobs, one calling the other:
# 1. admission: the compile waits for a slot of this user's CPU budget and holds it until it
#    ends (the slot is a lock file, so the kernel frees it when the holder dies, even by
#    SIGKILL). The runner (.config/buildkit/bin/runner, `target.'cfg(all())'.runner`) sends test
#    binaries and `cargo run` programs through the same budget: `rustc-wrapper --buildkit-run
#    PROGRAM ARGS...`; the rustdoc script (`build.rustdoc`) sends doctests and `cargo doc`:
#    `rustc-wrapper --buildkit-rustdoc ARGS...`. A compile runs as many threads as its slots.
# 2. the compiler cache: the admitted compile goes to sccache, so a unit compiled once (in any
#    worktree or repository of this user) is not compiled again; RUSTC runs itself when the
#    cache is off, not installed or cannot start: a build never depends on the cache.
# `rustc-wrapper --stats` prints the statistics of the server this repository's builds use
# here (the workflow's job summary shows them), without starting one.
# Environment: BUILDKIT_CACHE=off skips the cache; BUILDKIT_KEYED=off skips the store of
# compiled dependencies (below), sending them to sccache; BUILDKIT_CACHE_REMOTE (read-write, read-only,
# off) says how this machine uses the team's store (cache.remote); BUILDKIT_CACHE_DIR moves its store and socket;
# BUILDKIT_SCCACHE names the sccache binary; SCCACHE_* settings of yours are kept. The budget's
# state is $BUILDKIT_ADMISSION_DIR, else $HOME/.cache/buildkit/admission (HOME from the
# environment, else the password file): not XDG_RUNTIME_DIR, which `env -i` or a login shell
# may drop or change, splitting the budget in two.
# BUILDKIT_ADMISSION_HOLDER=perl makes perl hold the slots instead of the compiled holder.
# Portable: POSIX sh (dash, bash 3.2); the slot holder is a small Rust program built on first use
# with the toolchain's rustc, else core perl (perl-base; macOS ships it).
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
bk_admission=1
bk_jobs=''
bk_compile_only=1
# <<< profile values <<<

# bk_cacheable ARGS...: whether the compile is one the cache can keep. Those it cannot go
# straight to rustc: sccache would run them uncached anyway, after a round trip to its server.
# That is most compiles of the edit-test loop: incremental ones (the workspace's own crates),
# and those that link (binaries, tests, build scripts, proc-macros). Probes (`rustc -vV`) too.
# A metadata-only compile (check, clippy) is kept for a crates.io or git dependency, which every
# worktree's `cargo check` compiles alike; the workspace's own are left to rustc (clippy-driver
# compiles them, and their diagnostics are what the user runs clippy for). Decided before
# admission, so that the admitted process is rustc itself, with no second pass through this
# script.
bk_cacheable() {
    case ${BUILDKIT_CACHE:-on} in
        off | 0 | false | no) return 1 ;;
    esac
    [ "$bk_engine" = sccache ] || return 1
    [ -z "${bk_unkept:-}" ] || return 1
    bk_prev='' bk_link='' bk_meta=''
    for bk_a in "$@"; do
        case $bk_prev in
            -C) case $bk_a in incremental=*) return 1 ;; esac ;;
            --crate-type) case $bk_a in bin | proc-macro | dylib | cdylib) return 1 ;; esac ;;
            --emit) case $bk_a in *link*) bk_link=1 ;; *metadata*) bk_meta=1 ;; esac ;;
        esac
        case $bk_a in
            -Cincremental=* | --test | --crate-type=bin | --crate-type=proc-macro) return 1 ;;
            --emit=*link*) bk_link=1 ;;
            --emit=*metadata*) bk_meta=1 ;;
        esac
        bk_prev=$bk_a
    done
    [ -n "$bk_link" ] && return 0
    [ -n "$bk_meta" ] || return 1
    case ${CARGO_MANIFEST_DIR:-} in
        */registry/src/*/* | */git/checkouts/*/*) return 0 ;;
    esac
    return 1
}

# bk_self_path: this script's absolute path, in bk_self (perl -x and sed read it; admission
# reruns it). The runner and the rustdoc script, which read this file into their own shell, name
# it in bk_wrapper_file ($0 is theirs); a value of any other name is not this file.
bk_self_path() {
    case ${bk_wrapper_file:-} in
        */rustc-wrapper) bk_self=$bk_wrapper_file ;;
        *) bk_self=$0 ;;
    esac
    case $bk_self in
        /*) ;;
        *) bk_self=$(pwd -P)/$bk_self ;;
    esac
}

# -- admission ---------------------------------------------------------------------------------
# The lock holder (a perl program, BK_ADMIT_PL at the end of this file, or the same compiled:
# below) may open any number of slots on descriptors of its own (a shell has only 3-9, and cargo's
# jobserver already uses some of them), marks them close-on-exec so no child (sccache's server, a
# test's daemon) can carry a slot away, waits for the admitted command and exits with its status.
# Slot i is <dir>/slot-<i>.lock; <dir>/slot-<i>.rec says who holds it; <dir>/wait-<kind>-<pid>.rec
# says who waits (locked shared while its waiter lives). Kinds: light (a metadata-only compile:
# check, clippy) is served before anything else; heavy (a compile that generates code); test (a
# test binary: it may take more slots, free at that moment, and gets RUST_TEST_THREADS to match);
# run (`cargo run`'s program). Test and run never hold the first `compile_only` slots, so a
# compile is never stuck behind a long test run.

# The compiled holder: the same program in Rust, which starts in about 1.5 ms against perl's 7
# (every compile, test binary and doctest pays it). The wrapper compiles it once per machine and
# version, with the toolchain's own rustc (std only: no cargo, no crates), into the budget's
# folder as holder-<id>, <id> naming its source (tests/admission/test_holder.py checks it);
# perl holds the slots while it is being built, where it cannot be built (holder-<id>.failed
# says why; retried a day later) and when BUILDKIT_ADMISSION_HOLDER=perl.
bk_holder_id=74563e7e7dace9c6

# bk_section NAME: the text between `: <<'NAME'` and `NAME` at this file's end (BK_ADMIT_PL,
# the perl holder; BK_HOLDER_RS, the compiled holder's source). They sit after the last exit so
# the shell of every compile never parses them; NAME is one of those two, never user input.
bk_section() {
    bk_self_path
    sed -e "1,/^: <<'$1'\$/d" -e "/^$1\$/,\$d" -- "$bk_self"
}

# bk_rustc_holder DIR [RUSTC-FLAGS...]: compile DIR/holder.rs to DIR/holder, rustc's messages
# appended to DIR/log
bk_rustc_holder() {
    (
        bk_out=$1
        shift
        unset CARGO_MAKEFLAGS MAKEFLAGS MFLAGS
        exec "$bk_rustc" --edition 2021 -O -C codegen-units=1 -C strip=symbols -C panic=abort "$@" \
            --crate-name buildkit_holder -o "$bk_out/holder" "$bk_out/holder.rs"
    ) >>"$1/log" 2>&1
}

# bk_build_holder PATH: compile the holder to PATH unless someone else is doing it; true when
# PATH is ready
bk_build_holder() {
    bk_hdir=${1%/*}
    if [ -e "$1.failed" ]; then
        [ -n "$(find "$1.failed" -mtime +0 2>/dev/null)" ] || return 1
        rm -f -- "$1.failed"
    fi
    if [ ! -d "$bk_hdir" ]; then (umask 077 && mkdir -p -- "$bk_hdir") 2>/dev/null || return 1; fi
    # only in a folder of this user's own that nobody else may enter (what the holder demands)
    [ -O "$bk_hdir" ] || return 1
    case $(ls -ldn -- "$bk_hdir" 2>/dev/null) in
        d???------*) ;;
        *) return 1 ;;
    esac
    # one build at a time, its lock a directory; one left by a killed build is cleared after
    # ten minutes
    if ! mkdir -m 700 -- "$1.build" 2>/dev/null; then
        [ -n "$(find "$1.build" -prune -mmin +10 2>/dev/null)" ] && rm -rf -- "$1.build"
        return 1
    fi
    # a source that cannot be read (this file cut short) is no reason to set the holder aside
    # for a day in every repository: perl holds the slots this time
    if ! { bk_section BK_HOLDER_RS >"$1.build/holder.rs" && [ -s "$1.build/holder.rs" ]; }; then
        rm -rf -- "$1.build"
        return 1
    fi
    # the rustc of the toolchain cargo runs (beside $CARGO), else the one on PATH
    bk_rustc=${CARGO:+${CARGO%/*}/rustc}
    if [ -z "$bk_rustc" ] || [ ! -x "$bk_rustc" ]; then bk_rustc=$(command -v rustc 2>/dev/null) || bk_rustc=''; fi
    # static on Linux, so that a container or machine with an older C library that shares this
    # home runs it too; where the C library has no static archive (Fedora without glibc-static),
    # dynamic
    bk_static=''
    [ "$(uname -s 2>/dev/null)" = Linux ] && bk_static=1
    if [ -n "$bk_rustc" ] \
        && { { [ -n "$bk_static" ] && bk_rustc_holder "$1.build" -C target-feature=+crt-static; } \
            || bk_rustc_holder "$1.build"; } \
        && "$1.build/holder" --version >>"$1.build/log" 2>&1; then
        mv -f -- "$1.build/holder" "$1"
    else
        [ -n "$bk_rustc" ] || echo "no rustc beside \$CARGO (${CARGO:-unset}) nor on PATH" >>"$1.build/log"
        mv -f -- "$1.build/log" "$1.failed" 2>/dev/null || : >"$1.failed"
    fi
    rm -rf -- "$1.build"
    [ -x "$1" ]
}

# bk_holder_path: where this user's compiled holder is (or goes), in bk_holder; empty when the
# budget's folder is not known without the password file (perl finds it then)
bk_holder_path() {
    bk_holder=''
    [ "${BUILDKIT_ADMISSION_HOLDER:-}" != perl ] || return 0
    if [ -n "${BUILDKIT_ADMISSION_DIR:-}" ]; then
        bk_holder=$BUILDKIT_ADMISSION_DIR
    else
        case ${HOME:-} in
            /*) bk_holder=$HOME/.cache/buildkit/admission ;;
        esac
    fi
    case $bk_holder in
        /*) bk_holder=${bk_holder%/}/holder-$bk_holder_id ;;
        *) bk_holder='' ;;
    esac
}

# bk_holder_ready: true when this user's compiled holder (in bk_holder) can run, built now if
# it is missing and may be
bk_holder_ready() {
    bk_holder_path
    [ -n "$bk_holder" ] || return 1
    { [ -O "$bk_holder" ] && [ -x "$bk_holder" ]; } || bk_build_holder "$bk_holder"
}

# bk_admit KIND JOBSERVER CMD [ARGS...]: run CMD holding a slot of the budget (exec: never
# returns); JOBSERVER=1 gives it a jobserver of the slots it holds (a compile, rustdoc), 2 also
# lends it free slots while nobody waits (a compile that generates code).
bk_admit() {
    bk_kind=$1 bk_jobserver=$2
    shift 2
    if bk_holder_ready; then
        exec "$bk_holder" "$bk_kind" "$bk_jobs" "$bk_compile_only" "$bk_jobserver" "$@"
    fi
    if ! command -v perl >/dev/null 2>&1; then
        printf '%s\n' "buildkit admission: perl is not on PATH, so builds here are not kept within the CPU budget; install perl (perl-base) or set admission.enabled: false" >&2
        exec "$@"
    fi
    bk_self_path
    bk_admit_pl=$(bk_section BK_ADMIT_PL) || bk_admit_pl=''
    if [ -z "$bk_admit_pl" ]; then
        printf '%s\n' "buildkit admission: cannot read the perl holder from $bk_self, so this runs outside the CPU budget; write buildkit's scripts again (buildkit render --force in a repository, buildkit provision for your home's)" >&2
        exec "$@"
    fi
    exec perl -e "$bk_admit_pl" "$bk_kind" "$bk_jobs" "$bk_compile_only" "$bk_jobserver" "$@"
}

# rustc-wrapper --buildkit-holder: build the compiled holder if it is missing and print its path
# (provisioning and the tests run it); exit 1 when there is none (holder-<id>.failed says why)
if [ "${1:-}" = --buildkit-holder ]; then
    if bk_holder_ready; then
        printf '%s\n' "$bk_holder"
        exit 0
    fi
    [ -n "$bk_holder" ] || { echo "buildkit: no budget folder without HOME, or BUILDKIT_ADMISSION_HOLDER=perl" >&2; exit 1; }
    echo "buildkit: the compiled holder could not be built: ${bk_holder}.failed says why" >&2
    exit 1
fi

if [ "${1:-}" = --buildkit-run ]; then
    shift
    [ "$bk_admission" = 1 ] || exec "$@"
    # test executables live in <target>/<profile>/deps/ (and examples/); `cargo run` programs one
    # level up
    case $1 in
        */deps/*) bk_admit test 0 "$@" ;;
        *) bk_admit run 0 "$@" ;;
    esac
fi

if [ "${1:-}" = --buildkit-rustdoc ]; then
    shift
    # the rustdoc of the toolchain cargo runs: beside $CARGO (cargo sets it for what it runs;
    # under rustup, `cargo +nightly` is nightly's own cargo), else the one on PATH
    bk_rustdoc=${CARGO:+${CARGO%/*}/rustdoc}
    if [ -z "$bk_rustdoc" ] || [ ! -x "$bk_rustdoc" ] || [ -d "$bk_rustdoc" ]; then
        bk_rustdoc=$(command -v rustdoc 2>/dev/null) || {
            echo "buildkit: no rustdoc beside \$CARGO (${CARGO:-unset}) nor on PATH; install the toolchain's rust-docs component or set admission.rustdoc: false" >&2
            exit 127
        }
    fi
    [ "$bk_admission" = 1 ] || exec "$bk_rustdoc" "$@"
    # doctests (`--test`: every one compiled and run) are tests; `cargo doc` renders like a compile
    bk_kind=heavy
    for bk_arg in "$@"; do
        case $bk_arg in
            -vV | -V | --version | --print | --print=*) exec "$bk_rustdoc" "$@" ;;
            --test) bk_kind='test' ;;
        esac
    done
    bk_admit "$bk_kind" 1 "$bk_rustdoc" "$@"
fi

# -- compiled dependencies, kept by their key ---------------------------------------------------
# A crates.io or git dependency compiles alike in every worktree and repository of this user:
# its sources are the registry's, which cargo itself never checks again once unpacked (it
# judges such a unit by its version, features, profile and compiler, all in the arguments).
# Its outputs are kept in <cache dir>/keyed/ under a key of the compile as any worktree runs it
# (the arguments without this target dir's paths, each --extern library by its sha-256, the
# package's variables), with what else it read: a file its build script generated (OUT_DIR, by
# content) and the variables it read (env!), checked before a hit. A hit puts the outputs back
# in a few milliseconds, with no CPU slot, no rustc and no server: the .rlib as a link to the one
# copy, the rest as this worktree's own files. The program is the perl at the end of this file
# (`perl -x`: sh never reads it). Proc-macros and build scripts are kept too.
# bk_keyed_dir: true when this compile may use the store (then in bk_kdir)
bk_keyed_dir() {
    case ${BUILDKIT_CACHE:-on}-${BUILDKIT_KEYED:-on} in
        off-* | 0-* | false-* | no-* | *-off | *-0 | *-false | *-no) return 1 ;;
    esac
    [ "$bk_engine" = sccache ] || return 1
    case ${CARGO_MANIFEST_DIR:-} in
        */registry/src/*/* | */git/checkouts/*/*) ;;
        *) return 1 ;;
    esac
    command -v perl >/dev/null 2>&1 || return 1
    bk_cdir=${BUILDKIT_CACHE_DIR:-${XDG_CACHE_HOME:-${HOME:-/nonexistent}/.cache}/buildkit/sccache}
    if [ ! -d "$bk_cdir" ]; then (umask 077 && mkdir -p -- "$bk_cdir") 2>/dev/null || return 1; fi
    { [ -O "$bk_cdir" ] && [ -w "$bk_cdir" ]; } || return 1
    bk_kdir=$bk_cdir/keyed
    bk_self_path
}

# looked up before admission: a hit needs no CPU slot; a miss carries its key to the compile
if [ "${1:-}" != --buildkit-admitted ] && [ "${1:-}" != --stats ] && bk_keyed_dir; then
    bk_key=$(perl -x "$bk_self" lookup "$bk_kdir" - "$@")
    case $? in
        0) exit 0 ;;
        1)
            BUILDKIT_UNIT_KEY=$bk_key
            export BUILDKIT_UNIT_KEY
            ;;
        # not one the store keeps: a build script probing rustc (metadata only, into its
        # OUT_DIR) would cost sccache a second rustc run, and its server a start, for a key of
        # this worktree's paths; rustc alone, unless the team's store is set. (One that links,
        # with a native library's path, still goes to sccache: its .rlib becomes one file.)
        2)
            if [ "$bk_remote_kind" = none ]; then
                bk_unkept=1
                for bk_a in "$@"; do
                    case $bk_a in --emit=*link*) bk_unkept='' ;; esac
                done
            fi
            ;;
    esac
fi

if [ "${1:-}" = --buildkit-admitted ]; then
    shift
elif [ "$bk_admission" = 1 ] && [ "${1:-}" != --stats ]; then
    # a question to rustc (`-vV`, `--print …`) compiles nothing: answered at once
    bk_kind=heavy
    for bk_arg in "$@"; do
        case $bk_arg in
            -vV | -V | --version | --print | --print=*) exec "$@" ;;
            --emit=*link*) bk_kind=heavy ;;
            --emit=*) bk_kind=light ;;
        esac
    done
    bk_self_path
    # a compile that generates code may lend itself free slots (2); a metadata-only one needs one
    bk_lend=1
    [ "$bk_kind" = light ] || bk_lend=2
    [ -n "${BUILDKIT_UNIT_KEY:-}" ] || bk_cacheable "$@" || bk_admit "$bk_kind" "$bk_lend" "$@"
    bk_admit "$bk_kind" "$bk_lend" /bin/sh "$bk_self" --buildkit-admitted "$@"
fi

# -- the compiler cache ---------------------------------------------------------------------
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

# a dependency the store did not have (looked up above): compiled, then kept. Through sccache
# only for the team's store; locally the store above is the cache, so the compile is rustc's
# alone (sccache would first run rustc once more to list the sources, then keep a second copy)
bk_key=${BUILDKIT_UNIT_KEY:-}
unset BUILDKIT_UNIT_KEY
if [ -n "$bk_key" ] && bk_keyed_dir && { [ "$bk_remote_kind" = none ] || ! bk_cacheable "$@"; }; then
    "$@"
    bk_rc=$?
    if [ "$bk_rc" = 0 ]; then perl -x "$bk_self" save "$bk_kdir" "$bk_key" "$@"; fi
    exit "$bk_rc"
fi

if [ "${1:-}" != --stats ]; then bk_cacheable "$@" || exec "$@"; fi

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
# Kind gha (GitHub Actions' cache) has no host:port to check (bk_remote_probe is empty, so the
# check below only honours a set-aside marker): sccache fails fast when GitHub's cache service
# does not answer (exit 2, handled at the end). It needs the runner's cache token, which the
# workflow exports: without one there is no GitHub cache here.
if [ "$bk_remote_kind" = gha ] && [ -z "${ACTIONS_RUNTIME_TOKEN:-}" ]; then bk_remote_mode=off; fi
if [ "$bk_remote_mode" != off ] && command -v perl >/dev/null 2>&1; then
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
        redis) bk_rw=REDIS ;; s3) bk_rw=S3 ;; gha) bk_rw=GHA ;; *) bk_rw=WEBDAV ;;
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

# -- one file for identical units ------------------------------------------------------------
# A crates.io or git dependency's outputs are write-once: cargo names them by a hash of what goes
# into them (-C extra-filename), and rustc and sccache replace an output by renaming a new file
# over it, never by writing into it. So the same unit built in several worktrees (or
# repositories) can be one file on disk: after the compile, its .rlib (the object code, most of
# the bytes) becomes a hard link to the one copy in <cache dir>/units/, named by its sha-256.
# The .rmeta stays this worktree's own file: links share one modification time, and cargo
# decides what is fresh by the newest of a unit's outputs, so the fresh .rmeta keeps that
# decision exactly what it would be without the link (a shared .rlib alone is older, never
# newer). Only outputs this compile just wrote are touched; none of cargo's own files. The
# workspace's own crates are left alone: their outputs change with every edit. `buildkit gc`
# removes a copy no target dir links to any more.
bk_units='' bk_rlib=''
case ${CARGO_MANIFEST_DIR:-} in
    */registry/src/*/* | */git/checkouts/*/*) bk_units=$bk_dir/units ;;
esac
if [ -n "$bk_units" ]; then
    # only a compile that writes the .rlib (emits link): a metadata-only one (check) leaves any
    # .rlib of that name alone
    bk_prev='' bk_name='' bk_extra='' bk_outdir='' bk_lib=1 bk_link=''
    for bk_a in "$@"; do
        case $bk_prev in
            --crate-name) bk_name=$bk_a ;;
            --out-dir) bk_outdir=$bk_a ;;
            --crate-type) case $bk_a in lib | rlib) ;; *) bk_lib='' ;; esac ;;
            --emit) case $bk_a in *link*) bk_link=1 ;; esac ;;
            -C) case $bk_a in extra-filename=*) bk_extra=${bk_a#extra-filename=} ;; esac ;;
        esac
        case $bk_a in
            -Cextra-filename=*) bk_extra=${bk_a#-Cextra-filename=} ;;
            --crate-type=lib | --crate-type=rlib) ;;
            --crate-type=*) bk_lib='' ;;
            --emit=*link*) bk_link=1 ;;
            --out-dir=*) bk_outdir=${bk_a#--out-dir=} ;;
        esac
        bk_prev=$bk_a
    done
    if [ -n "$bk_lib" ] && [ -n "$bk_link" ] && [ -n "$bk_name" ] && [ -n "$bk_outdir" ]; then
        bk_rlib=$bk_outdir/lib$bk_name$bk_extra.rlib
        # an earlier output may be a link to the shared copy: it goes first, so that whatever
        # writes the new one can never write into the copy other worktrees use
        rm -f -- "$bk_rlib"
    fi
fi

# bk_sha256 FILE: its sha-256, hex (coreutils on Linux, shasum on macOS)
bk_sha256() {
    if command -v sha256sum >/dev/null 2>&1; then
        bk_sum=$(sha256sum -- "$1") || return 1
    elif command -v shasum >/dev/null 2>&1; then
        bk_sum=$(shasum -a 256 -- "$1") || return 1
    else
        return 1
    fi
    bk_sum=${bk_sum%%[!0-9a-f]*}
    [ "${#bk_sum}" = 64 ]
}

# bk_share FILE: make FILE a link to the one copy of its content (publishing it when it is the
# first); on any failure (another file system, no space) FILE simply stays as it is
bk_share() {
    [ -f "$1" ] && [ ! -h "$1" ] || return 0
    bk_sha256 "$1" || return 0
    bk_sub=$bk_units/$(printf %.2s "$bk_sum")
    bk_obj=$bk_sub/$bk_sum
    if [ -f "$bk_obj" ]; then
        # same name, same bytes: a copy damaged by hand is never handed out
        cmp -s -- "$bk_obj" "$1" || return 0
        if ln -- "$bk_obj" "$1.bk-$$" 2>/dev/null; then
            mv -f -- "$1.bk-$$" "$1" || rm -f -- "$1.bk-$$"
        fi
    else
        (umask 077 && mkdir -p -- "$bk_sub") 2>/dev/null || return 0
        if ln -- "$1" "$bk_obj.new-$$" 2>/dev/null; then
            mv -f -- "$bk_obj.new-$$" "$bk_obj" || rm -f -- "$bk_obj.new-$$"
        fi
    fi
    return 0
}

"$bk_sc" "$@"
bk_rc=$?
if [ "$bk_rc" = 0 ] && [ -n "$bk_key" ] && bk_keyed_dir; then
    perl -x "$bk_self" save "$bk_kdir" "$bk_key" "$@"
elif [ "$bk_rc" = 0 ] && [ -n "$bk_rlib" ]; then
    bk_share "$bk_rlib"
fi
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

# The store of compiled dependencies (above: "compiled dependencies, kept by their key"), run as
# `perl -x rustc-wrapper lookup|save STORE KEY RUSTC ARGS...`: perl starts at the line below
# that names it and stops at __END__. Core perl only; Digest::SHA when it is there, else
# sha256sum or shasum. sh never gets here (exit above).
# shellcheck disable=SC2317 # never run: the text perl -x reads
: <<'BK_UNITS_PL'
#!perl
use strict;
BEGIN { $^W = 1 if $ENV{BUILDKIT_PERL_WARNINGS} }
use Fcntl ();
# MODE lookup: exit 0 restored (artifact messages printed), 1 not there (the key on stdout, the
# unit outputs removed), 2 not a unit this store keeps. MODE save: publish what the compile wrote.
my ($mode, $store, $key, @cmd) = @ARGV;
my $out_env = $ENV{OUT_DIR};
my $plain = qr{^[A-Za-z0-9._/+=,~@-]+$};
sub skip { exit($mode eq "lookup" ? 2 : 0) }

my $have_digest = eval { require Digest::SHA; 1 };
sub sha_file {
    my ($path) = @_;
    if ($have_digest) {
        my $d = Digest::SHA->new(256);
        open my $fh, "<", $path or return undef;
        binmode $fh;
        $d->addfile($fh);
        return $d->hexdigest;
    }
    for my $tool (["sha256sum", "--"], ["shasum", "-a", "256", "--"]) {
        open my $fh, "-|", @$tool, $path or next;
        my $line = <$fh>;
        close $fh or next;
        return $1 if defined $line && $line =~ /^([0-9a-f]{64})\b/;
    }
    return undef;
}
sub sha_text {
    my ($text) = @_;
    return Digest::SHA::sha256_hex($text) if $have_digest;
    mkdir $store, 0700;
    my $tmp = "$store/.key-$$";
    open my $fh, ">", $tmp or skip();
    print $fh $text;
    close $fh or skip();
    my $sum = sha_file($tmp);
    unlink $tmp;
    return $sum;
}

# -- what the compile is, from its arguments -------------------------------------------------
my ($name, $extra, $out, $artifacts, @norm, @emit) = ("", "", "");
my $argc = @cmd;
for (my $i = 1; $i < $argc; $i++) {
    my $a = $cmd[$i];
    my ($opt, $val) = ($a, undef);
    if ($a =~ /^(--out-dir|--extern|--crate-name|--emit|-L|-C|-o)=?(.*)$/s && length $2) { ($opt, $val) = ($1, $2) }
    elsif ($a =~ /^(--out-dir|--extern|--crate-name|--emit|-L|-C|-o)$/) { ($opt, $val) = ($a, $cmd[++$i]) }
    skip() unless defined $val || $opt eq $a;
    if ($opt eq "--out-dir") { $out = $val; push @norm, "--out-dir" }
    elsif ($opt eq "-L") { skip() unless $val =~ /^dependency=/ }
    elsif ($opt eq "-o" || $a eq "--test" || $a =~ /^@/) { skip() }
    elsif ($opt eq "--extern") {
        if ($val =~ /^([^=]+)=(.+)$/s) {
            my ($crate, $path) = ($1, $2);
            my $sum = sha_file($path);
            skip() unless defined $sum;
            (my $base = $path) =~ s{.*/}{};
            push @norm, "--extern", "$crate=$base=$sum";
        } else { push @norm, "--extern", $val }
    }
    elsif ($opt eq "--crate-name") { $name = $val; push @norm, $opt, $val }
    elsif ($opt eq "--emit") { push @emit, split /,/, $val; push @norm, $opt, $val }
    elsif ($opt eq "-C") {
        skip() if $val =~ /^incremental=/;
        $extra = $1 if $val =~ /^extra-filename=(.*)$/s;
        push @norm, $opt, $val;
    }
    elsif ($a =~ /^--(?:diagnostic-width|color)(?:=|$)/) {
        # how diagnostics are drawn (cargo passes the width of its terminal): not the output
        $i++ unless $a =~ /=/;
    }
    else {
        $artifacts = 1 if $a =~ /^--json=.*artifacts/;
        push @norm, $a;
    }
}
skip() unless length $name && length $extra && length $out && @emit && $out =~ $plain && $out =~ m{^/};
skip() if defined $out_env && length $out_env && $out_env !~ $plain;
# a path of this target dir left in the arguments (a build script native library) keys nothing
# that is the same in another worktree, and may name content this key does not cover
for my $n (@norm) {
    skip() if index($n, $out) >= 0 || (defined $out_env && length $out_env && index($n, $out_env) >= 0);
}
my $md = $ENV{CARGO_MANIFEST_DIR} // "";
my $trusted;
$trusted = $1 if $md =~ m{^(/.*?/registry/src/[^/]+/)} || $md =~ m{^(/.*?/git/checkouts/[^/]+/[^/]+/)};
skip() unless defined $trusted;

my $unit = qr{^(?:lib)?\Q$name$extra\E(?:\..+)?$}s;
sub outputs {
    opendir my $dh, $out or return ();
    return sort grep { $_ =~ $unit && -f "$out/$_" && !-l "$out/$_" } readdir $dh;
}

# -- the key: the compile as any worktree runs it ------------------------------------------------
if ($mode eq "lookup") {
    my @env = map { "$_=$ENV{$_}" } sort grep { /^(CARGO_PKG_\w+|CARGO_CRATE_NAME|CARGO_MANIFEST_DIR|CARGO_MANIFEST_LINKS|CARGO_PRIMARY_PACKAGE|RUSTC_BOOTSTRAP)$/ } keys %ENV;
    $key = sha_text(join "\0", "buildkit-unit-1", $cmd[0], @norm, "", @env);
    skip() unless defined $key;
}
skip() unless $key =~ /^[0-9a-f]{64}$/;
my $entry = "$store/" . substr($key, 0, 2) . "/$key";

# rustc writes `\n`, `\r` and `\\` escaped in env-dep lines
sub dep_escape { my ($v) = @_; $v =~ s/\\/\\\\/g; $v =~ s/\n/\\n/g; $v =~ s/\r/\\r/g; return $v }

sub copy_file {
    my ($from, $to, $perm) = @_;
    open my $in, "<", $from or return 0;
    binmode $in;
    unlink $to;
    sysopen my $o, $to, Fcntl::O_WRONLY() | Fcntl::O_CREAT() | Fcntl::O_EXCL(), $perm or return 0;
    binmode $o;
    my $buf;
    while (1) {
        my $n = sysread $in, $buf, 1 << 20;
        return 0 unless defined $n;
        last unless $n;
        my $off = 0;
        while ($off < $n) { my $w = syswrite $o, $buf, $n - $off, $off; return 0 unless $w; $off += $w }
    }
    return close $o;
}

if ($mode eq "lookup") {
    my $hit = 0;
    my (@files, $old_out, $old_env);
    if (open my $mf, "<", "$entry/manifest") {
        $hit = 1;
        while (my $line = <$mf>) {
            chomp $line;
            my @f = split /\t/, $line, -1;
            if ($f[0] eq "out") { $old_out = $f[1] }
            elsif ($f[0] eq "out-env") { $old_env = $f[1] }
            elsif ($f[0] eq "file") { push @files, [$f[1], oct $f[2]] }
            elsif ($f[0] eq "env") {
                my $now = exists $ENV{$f[1]} ? "1\t" . dep_escape($ENV{$f[1]}) : "0\t";
                $hit = 0 unless $now eq "$f[2]\t$f[3]";
            }
            elsif ($f[0] eq "dep-out") {
                my $sum = defined $out_env && length $out_env ? sha_file("$out_env/$f[1]") : undef;
                $hit = 0 unless defined $sum && $sum eq $f[2];
            }
            elsif ($f[0] ne "end") { $hit = 0 }
            $hit = 2 if $hit && $f[0] eq "end";
            last unless $hit;
        }
    }
    $hit = 0 unless $hit == 2 && @files && defined $old_out;
    my @placed;
    if ($hit) {
        my $meta = grep { $_ eq "metadata" } @emit;
        for my $f (@files) {
            my ($file, $perm) = @$f;
            my $tmp = "$out/.$file.bk-$$";
            my $ok;
            if ($file =~ /\.d$/) {
                # the dep-info names this worktree paths (cargo reads it)
                local $/;
                if (open my $in, "<", "$entry/f/$file") {
                    my $text = <$in>;
                    $text =~ s/\Q$old_out\E/$out/g;
                    $text =~ s/\Q$old_env\E/$out_env/g if defined $old_env && length $old_env && defined $out_env;
                    if (open my $o, ">", $tmp) { print $o $text; $ok = close $o }
                }
            } elsif ($file =~ /\.rlib$/ && $meta) {
                # the one copy: its fresh .rmeta keeps the unit as new as its dependencies
                $ok = link "$entry/f/$file", $tmp;
            }
            $ok ||= copy_file("$entry/f/$file", $tmp, $perm);
            if (!$ok) { unlink $tmp; $hit = 0; last }
            chmod $perm, $tmp;
            push @placed, [$tmp, "$out/$file"];
        }
    }
    if ($hit) {
        for my $p (@placed) { rename $p->[0], $p->[1] or $hit = 0 }
    }
    if (!$hit) {
        unlink map { $_->[0] } @placed;
        # a miss: the outputs of an earlier compile go first, so that whatever writes the new
        # ones never writes into a file this store shares
        unlink map { "$out/$_" } outputs();
        print "$key\n";
        exit 1;
    }
    utime undef, undef, "$entry/manifest";
    if ($artifacts) {
        my %kind = (rmeta => "metadata", rlib => "link", d => "dep-info");
        for my $f (sort { ($a->[0] =~ /\.rmeta$/ ? 0 : 1) <=> ($b->[0] =~ /\.rmeta$/ ? 0 : 1) } @files) {
            my ($ext) = $f->[0] =~ /\.([^.]+)$/;
            my $emit = defined $ext ? $kind{$ext} : undef;
            $emit = "link" if !defined $emit && $f->[0] !~ /\.(?:o|dwo|pdb)$/;
            next unless defined $emit;
            (my $path = "$out/$f->[0]") =~ s/(["\\])/\\$1/g;
            print STDERR qq({"\$message_type":"artifact","artifact":"$path","emit":"$emit"}\n);
        }
    }
    exit 0;
}

# -- save: after a compile that succeeded --------------------------------------------------------
exit 0 unless $mode eq "save";
my @files = outputs();
my ($depinfo) = grep { /\.d$/ } @files;
exit 0 unless @files && defined $depinfo;
my (@manifest, %seen);
{
    open my $in, "<", "$out/$depinfo" or exit 0;
    while (my $line = <$in>) {
        chomp $line;
        if ($line =~ /^# env-dep:([^=]+)(?:=(.*))?$/s) {
            next if $1 eq "OUT_DIR";    # this worktree own, as every worktree has one
            push @manifest, join "\t", "env", $1, defined $2 ? (1, $2) : (0, "");
            next;
        }
        next unless $line =~ /^(.+?)(?<!\\):(?:\s|$)/;
        (my $path = $1) =~ s/\\ / /g;
        next if $seen{$path}++ || index($path, "$out/") == 0;
        $path = "$md/$path" unless $path =~ m{^/};
        next if index($path, $trusted) == 0;
        exit 0 if $path =~ /[\t\n]/;
        my $sum = sha_file($path);
        exit 0 unless defined $sum;
        # a file of this worktree other than its OUT_DIR (or of another worktree, or anywhere
        # else) has no name every worktree shares: such a compile is not kept
        exit 0 unless defined $out_env && length $out_env && index($path, "$out_env/") == 0;
        push @manifest, join "\t", "dep-out", substr($path, length($out_env) + 1), $sum;
    }
}
exit 0 if grep { /\n/ } @manifest;
my $tmp = "$store/.new-$key-$$";
mkdir $store, 0700;
mkdir "$store/" . substr($key, 0, 2), 0700;
mkdir $tmp, 0700 or exit 0;
mkdir "$tmp/f", 0700 or exit 0;
sub give_up { system "rm", "-rf", "--", $tmp; exit 0 }
push @manifest, "out\t$out";
push @manifest, "out-env\t$out_env" if defined $out_env && length $out_env;
for my $file (@files) {
    my @st = stat "$out/$file" or give_up();
    my $perm = $st[2] & 0777;
    # The .rlib and .rmeta are kept as this worktree own files (links): rustc replaces them by
    # renaming a new file over them, never by writing into them, and this worktree keeps their
    # modification time, which no other worktree shares (a hit links only the .rlib, see
    # lookup). A linker may write into its output: proc-macros and build scripts are copied.
    ($file =~ /\.r(?:lib|meta)$/ && link "$out/$file", "$tmp/f/$file") || copy_file("$out/$file", "$tmp/f/$file", $perm) or give_up();
    push @manifest, sprintf "file\t%s\t%o", $file, $perm;
}
push @manifest, "end";
open my $mf, ">", "$tmp/manifest" or give_up();
print $mf map { "$_\n" } @manifest;
close $mf or give_up();
if (!rename $tmp, $entry) {
    # an entry of the same key (another worktree raced us, or its sources changed): replaced
    my $old = "$store/.old-$key-$$";
    rename $entry, $old;
    rename $tmp, $entry or give_up();
    system "rm", "-rf", "--", $old;
}
exit 0;
__END__
BK_UNITS_PL

# The perl holder (admission's fallback, above), run by bk_admit as `perl -e TEXT`: the lines
# between these markers, read with sed. Out of sh's way here, so that no compile or test process
# pays for parsing it.
# shellcheck disable=SC2317 # never run: the text bk_admit reads
: <<'BK_ADMIT_PL'
use strict;
# This runs for every compile and test binary, so its start is kept short: warnings.pm only
# when asked (BUILDKIT_PERL_WARNINGS=1: the test suite; 1.5 ms a start), Fcntl without Exporter
# tags (importing :flock cost 3 ms) and no POSIX (8 ms); WNOHANG is 1 on Linux, macOS and the
# BSDs.
BEGIN { $^W = 1 if $ENV{BUILDKIT_PERL_WARNINGS} }
use Fcntl ();
BEGIN {
    no strict "refs";
    *{$_} = \&{"Fcntl::$_"} for qw(LOCK_SH LOCK_EX LOCK_NB LOCK_UN O_RDONLY O_CREAT O_NOFOLLOW O_NONBLOCK F_GETFL F_SETFL F_SETFD);
}
sub WNOHANG () { 1 }
my ($kind, $jobs, $reserved, $jobserver, @cmd) = @ARGV;
my $me = "buildkit admission";
sub fail { print STDERR "$me: $_[0]\n"; exit 77 }
my $dir = $ENV{BUILDKIT_ADMISSION_DIR};
if (defined $dir && length $dir) {
    fail("BUILDKIT_ADMISSION_DIR=$dir is not an absolute path; fix it or unset it") unless $dir =~ m{^/};
} else {
    my $home = $ENV{HOME};
    $home = (getpwuid $<)[7] unless defined $home && $home =~ m{^/};
    fail("no home folder to keep the CPU budget in: set HOME") unless defined $home && $home =~ m{^/};
    $dir = "$home/.cache/buildkit/admission";
}
{
    my $path = "";
    for my $part (grep { length } split m{/}, $dir) {
        $path .= "/$part";
        next if -d $path;
        mkdir $path, 0700 or -d $path
            or fail("cannot create $path ($!): allow writes to $dir (an agent sandbox?) or set HOME");
    }
    my @st = lstat $dir or fail("cannot inspect $dir: $!");
    fail("$dir is a symbolic link; refusing to use it: remove it and build again") if -l _;
    fail("$dir is not owned by you (uid $<); refusing to use it: remove it and build again")
        if $st[4] != $<;
    fail(sprintf("%s is accessible to others (mode %04o); run: chmod 700 %s", $dir, $st[2] & 07777, $dir))
        if $st[2] & 077;
}
# cannot_write PATH: fail, naming what to allow when a sandbox (of an agent) is in the way
sub cannot_write {
    my ($path) = @_;
    # Errno is loaded here, on the way out: `%!` in the source would load it on every start (1 ms).
    # Loading it searches @INC and so changes $!: the error is kept first.
    my ($error, $errno) = ("$!", $! + 0);
    require Errno;
    fail("cannot write the CPU budget folder $dir ($path: $error): allow writes to $dir (Claude Code: sandbox.filesystem.allowWrite; Codex: sandbox_workspace_write.writable_roots)")
        if grep { $errno == $_ } Errno::EROFS(), Errno::EACCES(), Errno::EPERM();
    fail("cannot write $path ($error): remove it and build again");
}
if (!defined $jobs || $jobs !~ /^[1-9][0-9]*$/) {
    $jobs = 0;
    # Linux lists the CPUs this process may run on (as nproc counts them, the cpuset of a container
    # included) in /proc, with no process to start; elsewhere ask a program
    if (open my $n, "<", "/proc/self/status") {
        my ($v) = map { /^Cpus_allowed_list:\s*(\S+)/ ? $1 : () } <$n>;
        close $n;
        for my $range (split /,/, $v // "") {
            if ($range =~ /^(\d+)-(\d+)$/) { $jobs += $2 - $1 + 1 } elsif ($range =~ /^\d+$/) { $jobs++ }
        }
    }
    if (!$jobs && open my $n, "-|", "nproc") { my $v = <$n>; close $n; $jobs = $1 if defined $v && $v =~ /^(\d+)/ }
    if (!$jobs && open my $n, "-|", "getconf _NPROCESSORS_ONLN 2>/dev/null") { my $v = <$n>; close $n; $jobs = $1 if defined $v && $v =~ /^(\d+)/ }
    if (!$jobs && open my $n, "-|", "sysctl -n hw.ncpu 2>/dev/null") { my $v = <$n>; close $n; $jobs = $1 if defined $v && $v =~ /^(\d+)/ }
    $jobs ||= 1;
}
$reserved = $jobs - 1 if $reserved > $jobs - 1;
$reserved = 0 if $reserved < 0;

# what the status line shows: the cargo command behind this (the parent, on Linux), the
# worktree it runs in, and the crate or program
my $ppid = getppid;
my $cargo = "";
if (open my $c, "<", "/proc/$ppid/cmdline") { local $/; $cargo = <$c> // ""; close $c; $cargo =~ s/\0+$//; $cargo =~ tr/\0\n/  /; }
my $cwd = readlink("/proc/$ppid/cwd") // $ENV{PWD} // ".";
my $worktree = $cwd;
for (my $d = $cwd; length $d; $d =~ s{/[^/]*$}{}) { if (-e "$d/.git") { $worktree = $d; last } }
my $what;
if ($kind eq "light" || $kind eq "heavy") {
    my ($crate) = map { $cmd[$_ + 1] // "?" } grep { $cmd[$_] eq "--crate-name" } 0 .. $#cmd;
    $what = "rustc " . ($crate // "?") . ($kind eq "light" ? " (metadata only)" : "");
} else {
    $what = join " ", $cmd[0] =~ s{.*/}{}r, @cmd[1 .. $#cmd];
}
for ($what, $cargo, $cwd, $worktree) { tr/\n\r/  /; $_ = substr($_, 0, 300) }

sub slot_path { sprintf "%s/slot-%03d", $dir, $_[0] }
sub open_lock {
    my ($path) = @_;
    sysopen(my $fh, $path, O_RDONLY | O_CREAT | O_NOFOLLOW, 0600) or cannot_write($path);
    return $fh;
}
# write_record PATH, LOCK_SHARED, FIELDS: written under a fresh name, locked (a waiting record:
# shared, for as long as its waiter lives) and only then renamed into place, so nobody sees it
# unlocked and takes it for the record of a dead waiter
sub write_record {
    my ($path, $shared, %f) = @_;
    my $tmp = "$dir/.new.$$";
    unlink $tmp;
    open my $out, ">", $tmp or cannot_write($tmp);
    print $out map { "$_=$f{$_}\n" } qw(pid kind started waited cwd worktree cmd cargo);
    close $out or fail("cannot write $tmp: $!");
    my $fh;
    if ($shared) { open $fh, "<", $tmp or fail("cannot open $tmp: $!"); flock $fh, LOCK_SH }
    rename $tmp, $path or fail("cannot rename $tmp to $path: $!");
    return $fh;
}
sub record_field {
    my ($path, $key) = @_;
    open my $in, "<", $path or return undef;
    while (<$in>) { chomp; return substr($_, length($key) + 1) if index($_, "$key=") == 0 }
    return undef;
}

# a runner inside a test or program that already holds slots (a test that runs `cargo test` on
# a fixture) runs at once: waiting for a slot its own ancestor holds could never end
if ($kind eq "test" || $kind eq "run") {
    my %ancestor;
    my $p = $ppid;
    for (1 .. 64) {
        last if $p <= 1 || $ancestor{$p}++;
        my $stat;
        if (open my $s, "<", "/proc/$p/stat") { $stat = <$s>; close $s }
        if (defined $stat) { $stat =~ /\)\s+\S+\s+(\d+)/ or last; $p = $1 }
        else { my $q = `ps -o ppid= -p $p 2>/dev/null`; last unless defined $q && $q =~ /(\d+)/; $p = $1 }
    }
    for my $i (0 .. $jobs - 1) {
        my $pid = record_field(slot_path($i) . ".rec", "pid") // next;
        next unless $pid =~ /^\d+$/ && $ancestor{$pid};
        my $fh = open_lock(slot_path($i) . ".lock");
        next if flock $fh, LOCK_EX | LOCK_NB;    # free: the record is stale
        exec { $cmd[0] } @cmd or fail("cannot run $cmd[0]: $!");
    }
}

my @mine = ($kind eq "test" || $kind eq "run") ? ($reserved .. $jobs - 1) : (0 .. $jobs - 1);
my %lock = map { $_ => open_lock(slot_path($_) . ".lock") } @mine;
my $started = time;

sub light_waiting { waiting("light") }
sub waiting {    # a live waiter of the kind given (any kind: "")
    my ($which) = @_;
    my $pattern = $which eq "" ? qr/^wait-[a-z]+-(\d+)\.rec$/ : qr/^wait-\Q$which\E-(\d+)\.rec$/;
    opendir my $d, $dir or return 0;
    for my $name (readdir $d) {
        next unless $name =~ $pattern && $1 != $$;
        open my $fh, "<", "$dir/$name" or next;
        return 1 unless flock $fh, LOCK_EX | LOCK_NB;
        unlink "$dir/$name";    # its waiter is gone
    }
    return 0;
}
sub take_one {
    for my $i (@mine) {
        next unless flock $lock{$i}, LOCK_EX | LOCK_NB;
        if ($kind ne "light" && light_waiting()) { flock $lock{$i}, LOCK_UN; return undef }
        return $i;
    }
    return undef;
}

my $got = take_one();
my ($wait_path, $wait_fh);
if (!defined $got) {
    $wait_path = "$dir/wait-$kind-$$.rec";
    $wait_fh = write_record($wait_path, 1, pid => $$, kind => $kind, started => $started,
        waited => 0, cwd => $cwd, worktree => $worktree, cmd => $what, cargo => $cargo);
    # a light waiter polls (it is served first: a short wait matters); so does any waiter in
    # its first two seconds: most waits of an edit-test loop are that short (a compile waiting
    # for the slot a lone compile lent itself, given back when its lender next looks), and a
    # sleep on one slot would miss the release of another. Longer waiters sleep in the kernel
    # on one slot, a different one each round, for up to a second, then look at all
    my $round = $$;
    my $poll_until = $started + 2;
    while (!defined($got = take_one())) {
        if ($kind eq "light" || time < $poll_until) { select undef, undef, undef, 0.03 + rand 0.04; next }
        my $i = $mine[$round++ % @mine];
        my $woke = eval {
            local $SIG{ALRM} = sub { die "timeout\n" };
            alarm 1;
            my $ok = flock $lock{$i}, LOCK_EX;
            alarm 0;
            $ok;
        };
        alarm 0;
        # the alarm may come just after the lock was granted: let go of it (this descriptor
        # only; nobody else holds a lock through it)
        if (!$woke) { flock $lock{$i}, LOCK_UN; next }
        if (light_waiting()) { flock $lock{$i}, LOCK_UN; select undef, undef, undef, 0.05; next }
        $got = $i;
        last;
    }
}
my @held = ($got);
my %f = (pid => $$, kind => $kind, started => time, waited => time - $started,
    cwd => $cwd, worktree => $worktree, cmd => $what, cargo => $cargo);
write_record(slot_path($got) . ".rec", 0, %f);
if ($wait_path) { unlink $wait_path; close $wait_fh }
# a test binary runs a thread per core: it takes more free slots, up to half of those it may
# hold, while nobody waits, and is told to run that many tests at once
if ($kind eq "test" && !defined $ENV{RUST_TEST_THREADS}) {
    my $want = int(@mine / 2) - 1;
    for my $i (@mine) {
        last if $want <= 0;
        next if $i == $got;
        opendir my $d, $dir or last;
        last if grep { /^wait-.*\.rec$/ } readdir $d;
        next unless flock $lock{$i}, LOCK_EX | LOCK_NB;
        write_record(slot_path($i) . ".rec", 0, %f);
        push @held, $i;
        $want--;
    }
    $ENV{RUST_TEST_THREADS} = scalar @held;
}
# A compile (and rustdoc) gets a jobserver of its own instead of the one of its cargo: tokens =
# the slots it holds minus one (the implicit token of rustc is the first), so the LLVM workers of
# rustc (and the doctest compiles of rustdoc) stay within the budget. rustc reads CARGO_MAKEFLAGS
# before MAKEFLAGS and MFLAGS, and without any jobserver makes one of 32 tokens: the compile
# always gets one. A pipe of this process, inherited by the compile alone (close-on-exec
# everywhere else). A heavy compile alone on the machine lends itself free slots while nobody
# waits (a long final crate gets every core) and gives them back, token by token, once someone
# waits.
my ($js_r, $js_w);
if ($jobserver) {
    pipe $js_r, $js_w or fail("cannot create a pipe: $!");
    syswrite $js_w, "+" x (@held - 1) if @held > 1;
}
my $lend = $jobserver eq "2" && @mine > 1;
my %keep = map { $_ => 1 } @held;
close $lock{$_} for grep { !$keep{$_} } ($lend ? () : keys %lock);

my $child = fork;
fail("cannot fork: $!") unless defined $child;
if (!$child) {
    if ($jobserver) {
        fcntl $_, F_SETFD, 0 for $js_r, $js_w;
        my $auth = fileno($js_r) . "," . fileno($js_w);
        $ENV{CARGO_MAKEFLAGS} = "-j --jobserver-fds=$auth --jobserver-auth=$auth";
    }
    exec { $cmd[0] } @cmd or do { print STDERR "$me: cannot run $cmd[0]: $!\n"; exit 127 };
}
for my $sig (qw(TERM INT HUP QUIT USR1 USR2)) { $SIG{$sig} = sub { kill $sig, $child } }
my $rc;
if ($lend) {
    # the compile reads tokens as the holder does; the jobserver crate copes with a
    # non-blocking pipe, so taking a token back never blocks this process
    fcntl $js_r, F_SETFL, fcntl($js_r, F_GETFL, 0) | O_NONBLOCK;
    $SIG{CHLD} = sub { };    # ends the sleep below when the compile ends
    while (1) {
        my $w = waitpid $child, WNOHANG;
        if ($w == $child || $w == -1) { $rc = $?; last }
        if (waiting("")) {
            while (@held > 1 && sysread $js_r, my $token, 1) {
                my $i = pop @held;
                unlink slot_path($i) . ".rec";
                flock $lock{$i}, LOCK_UN;
            }
        } else {
            for my $i (@mine) {
                next if grep { $_ == $i } @held;
                next unless flock $lock{$i}, LOCK_EX | LOCK_NB;
                if (waiting("")) { flock $lock{$i}, LOCK_UN; last }
                write_record(slot_path($i) . ".rec", 0, %f);
                push @held, $i;
                syswrite $js_w, "+";
            }
        }
        select undef, undef, undef, 0.05;    # a waiter gets a lent slot back within 50 ms
    }
} else {
    while (1) { my $w = waitpid $child, 0; $rc = $?; last if $w == $child || $w == -1 }
}
unlink map { slot_path($_) . ".rec" } @held;
if ($rc & 127) {
    my $sig = $rc & 127;
    $SIG{$_} = "DEFAULT" for qw(TERM INT HUP QUIT USR1 USR2);
    close $lock{$_} for @held;
    kill $sig, $$;
    exit 128 + $sig;
}
exit $rc >> 8;
BK_ADMIT_PL

# The compiled holder's source (bk_section BK_HOLDER_RS, above), read with sed the same way.
# shellcheck disable=SC2317 # never run: the text bk_build_holder reads
: <<'BK_HOLDER_RS'
// buildkit's admission holder, compiled: the perl holder (BK_ADMIT_PL) above, with the same
// files and rules (both can share one budget), for about a tenth of perl's start-up cost,
// which every compile, test binary and doctest pays. Plain std plus a few libc calls declared
// here, so that rustc alone builds it (no cargo, no crates).
// Usage: holder KIND JOBS RESERVED JOBSERVER CMD [ARGS...]; holder --version.
use std::collections::HashSet;
use std::env;
use std::ffi::OsString;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::raw::c_int;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::os::unix::io::{AsRawFd, FromRawFd};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{exit, Command};
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

#[cfg(not(any(
    target_os = "macos",
    all(
        target_os = "linux",
        any(
            target_arch = "x86_64",
            target_arch = "x86",
            target_arch = "aarch64",
            target_arch = "arm",
            target_arch = "riscv64",
            target_arch = "powerpc64",
            target_arch = "s390x",
            target_arch = "loongarch64"
        )
    )
)))]
compile_error!("the constants below are known for Linux (common architectures) and macOS only");

extern "C" {
    fn flock(fd: c_int, operation: c_int) -> c_int;
    fn pipe(fds: *mut c_int) -> c_int;
    fn fcntl(fd: c_int, cmd: c_int, ...) -> c_int;
    fn kill(pid: i32, sig: c_int) -> c_int;
    fn getppid() -> i32;
    fn getuid() -> u32;
    fn signal(sig: c_int, handler: usize) -> usize;
}
const LOCK_SH: c_int = 1;
const LOCK_EX: c_int = 2;
const LOCK_NB: c_int = 4;
const LOCK_UN: c_int = 8;
const F_GETFL: c_int = 3;
const F_SETFL: c_int = 4;
#[cfg(target_os = "linux")]
const O_NONBLOCK: c_int = 0o4000;
#[cfg(target_os = "macos")]
const O_NONBLOCK: c_int = 4;
#[cfg(target_os = "linux")]
const FORWARDED: [c_int; 6] = [15, 2, 1, 3, 10, 12]; // TERM INT HUP QUIT USR1 USR2
#[cfg(target_os = "macos")]
const FORWARDED: [c_int; 6] = [15, 2, 1, 3, 30, 31];
const SIG_DFL: usize = 0;

const ME: &str = "buildkit admission";
const RECORD_KEYS: [&str; 8] = ["pid", "kind", "started", "waited", "cwd", "worktree", "cmd", "cargo"];

static CHILD: AtomicI32 = AtomicI32::new(0);

extern "C" fn forward(sig: c_int) {
    let child = CHILD.load(Ordering::SeqCst);
    if child > 0 {
        unsafe { kill(child, sig) };
    }
}

fn fail(message: &str) -> ! {
    eprintln!("{}: {}", ME, message);
    exit(77)
}

/// The error as perl prints `$!`: without std's " (os error N)".
fn reason(error: &io::Error) -> String {
    let text = error.to_string();
    match text.rfind(" (os error ") {
        Some(at) => text[..at].to_string(),
        None => text,
    }
}

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

fn try_lock(file: &File, operation: c_int) -> bool {
    unsafe { flock(file.as_raw_fd(), operation | LOCK_NB) == 0 }
}

fn unlock(file: &File) {
    unsafe { flock(file.as_raw_fd(), LOCK_UN) };
}

/// A small generator for the waiters' jitter (no crates): xorshift, seeded by pid and clock.
struct Jitter(u64);
impl Jitter {
    fn millis(&mut self, low: u64, spread: u64) -> Duration {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        Duration::from_millis(low + self.0 % spread)
    }
}

struct Budget {
    dir: String,
    kind: String,
}

impl Budget {
    fn slot_path(&self, i: usize) -> String {
        format!("{}/slot-{:03}", self.dir, i)
    }

    /// cannot_write PATH: fail, naming what to allow when a sandbox (of an agent) is in the way
    fn cannot_write(&self, path: &str, error: &io::Error) -> ! {
        // EROFS, EACCES, EPERM: the same numbers on Linux and macOS
        if let Some(30) | Some(13) | Some(1) = error.raw_os_error() {
            fail(&format!(
                "cannot write the CPU budget folder {} ({}: {}): allow writes to {} (Claude Code: sandbox.filesystem.allowWrite; Codex: sandbox_workspace_write.writable_roots)",
                self.dir, path, reason(error), self.dir
            ));
        }
        fail(&format!("cannot write {} ({}): remove it and build again", path, reason(error)))
    }

    fn open_lock(&self, path: &str) -> File {
        // the folder is this user's own, mode 0700 (checked): nobody else can plant a link here
        match File::open(path) {
            Ok(file) => file,
            Err(_) => match OpenOptions::new().write(true).create(true).mode(0o600).open(path) {
                Ok(file) => file,
                Err(error) => self.cannot_write(path, &error),
            },
        }
    }

    /// written under a fresh name, locked (a waiting record: shared, for as long as its waiter
    /// lives) and only then renamed into place, so nobody sees it unlocked and takes it for the
    /// record of a dead waiter
    fn write_record(&self, path: &str, shared: bool, fields: &[String]) -> Option<File> {
        let tmp = format!("{}/.new.{}", self.dir, std::process::id());
        let _ = fs::remove_file(&tmp);
        let mut text = String::new();
        for (key, value) in RECORD_KEYS.iter().zip(fields) {
            text.push_str(key);
            text.push('=');
            text.push_str(value);
            text.push('\n');
        }
        let mut out = match OpenOptions::new().write(true).create_new(true).mode(0o600).open(&tmp) {
            Ok(file) => file,
            Err(error) => self.cannot_write(&tmp, &error),
        };
        if let Err(error) = out.write_all(text.as_bytes()) {
            fail(&format!("cannot write {}: {}", tmp, reason(&error)));
        }
        drop(out);
        let mut held = None;
        if shared {
            let file = File::open(&tmp)
                .unwrap_or_else(|error| fail(&format!("cannot open {}: {}", tmp, reason(&error))));
            unsafe { flock(file.as_raw_fd(), LOCK_SH) };
            held = Some(file);
        }
        if let Err(error) = fs::rename(&tmp, path) {
            fail(&format!("cannot rename {} to {}: {}", tmp, path, reason(&error)));
        }
        held
    }

    /// a live waiter of the kind given (any kind: "")
    fn waiting(&self, which: &str) -> bool {
        let entries = match fs::read_dir(&self.dir) {
            Ok(entries) => entries,
            Err(_) => return false,
        };
        let me = std::process::id().to_string();
        for entry in entries.flatten() {
            let name = entry.file_name();
            let name = match name.to_str() {
                Some(name) => name,
                None => continue,
            };
            let rest = match name.strip_prefix("wait-").and_then(|r| r.strip_suffix(".rec")) {
                Some(rest) => rest,
                None => continue,
            };
            let (kind, pid) = match rest.rsplit_once('-') {
                Some(pair) => pair,
                None => continue,
            };
            let kind_ok = if which.is_empty() {
                !kind.is_empty() && kind.bytes().all(|b| b.is_ascii_lowercase())
            } else {
                kind == which
            };
            if !kind_ok || pid.is_empty() || !pid.bytes().all(|b| b.is_ascii_digit()) || pid == me {
                continue;
            }
            let path = format!("{}/{}", self.dir, name);
            let file = match File::open(&path) {
                Ok(file) => file,
                Err(_) => continue,
            };
            if !try_lock(&file, LOCK_EX) {
                return true;
            }
            let _ = fs::remove_file(&path); // its waiter is gone
        }
        false
    }

    fn anyone_waiting(&self) -> bool {
        fs::read_dir(&self.dir)
            .map(|entries| {
                entries.flatten().any(|e| {
                    let name = e.file_name();
                    let name = name.to_string_lossy();
                    name.starts_with("wait-") && name.ends_with(".rec")
                })
            })
            .unwrap_or(false)
    }

    fn take_one(&self, mine: &[usize], locks: &[Option<File>]) -> Option<usize> {
        for &i in mine {
            let lock = locks[i].as_ref().expect("a lock of mine");
            if !try_lock(lock, LOCK_EX) {
                continue;
            }
            if self.kind != "light" && self.waiting("light") {
                unlock(lock);
                return None;
            }
            return Some(i);
        }
        None
    }
}

fn record_field(path: &str, key: &str) -> Option<String> {
    let text = fs::read_to_string(path).ok()?;
    let prefix = format!("{}=", key);
    text.lines().find_map(|line| line.strip_prefix(prefix.as_str()).map(str::to_string))
}

fn budget_dir() -> String {
    if let Some(dir) = env::var_os("BUILDKIT_ADMISSION_DIR").filter(|d| !d.is_empty()) {
        let dir = dir.to_string_lossy().into_owned();
        if !dir.starts_with('/') {
            fail(&format!("BUILDKIT_ADMISSION_DIR={} is not an absolute path; fix it or unset it", dir));
        }
        return dir;
    }
    // the wrapper runs this program only when HOME is absolute (perl reads the password file)
    match env::var("HOME") {
        Ok(home) if home.starts_with('/') => format!("{}/.cache/buildkit/admission", home),
        _ => fail("no home folder to keep the CPU budget in: set HOME"),
    }
}

fn check_dir(dir: &str) {
    let mut path = String::new();
    for part in dir.split('/').filter(|p| !p.is_empty()) {
        path.push('/');
        path.push_str(part);
        if fs::metadata(&path).map(|m| m.is_dir()).unwrap_or(false) {
            continue;
        }
        if let Err(error) = fs::DirBuilder::new().mode(0o700).create(&path) {
            if !fs::metadata(&path).map(|m| m.is_dir()).unwrap_or(false) {
                fail(&format!(
                    "cannot create {} ({}): allow writes to {} (an agent sandbox?) or set HOME",
                    path,
                    reason(&error),
                    dir
                ));
            }
        }
    }
    let st = fs::symlink_metadata(dir)
        .unwrap_or_else(|error| fail(&format!("cannot inspect {}: {}", dir, reason(&error))));
    if st.file_type().is_symlink() {
        fail(&format!("{} is a symbolic link; refusing to use it: remove it and build again", dir));
    }
    let uid = unsafe { getuid() };
    if st.uid() != uid {
        fail(&format!("{} is not owned by you (uid {}); refusing to use it: remove it and build again", dir, uid));
    }
    if st.mode() & 0o077 != 0 {
        fail(&format!(
            "{} is accessible to others (mode {:04o}); run: chmod 700 {}",
            dir,
            st.mode() & 0o7777,
            dir
        ));
    }
}

/// The CPUs this process may run on: /proc's list on Linux (as nproc counts them, a
/// container's cpuset included; what the perl holder reads, so both agree), else the system's.
fn cpu_count() -> usize {
    let mut jobs = 0;
    if let Ok(status) = fs::read_to_string("/proc/self/status") {
        if let Some(list) = status.lines().find_map(|l| l.strip_prefix("Cpus_allowed_list:")) {
            for range in list.trim().split(',') {
                let mut bounds = range.splitn(2, '-').map(|n| n.parse::<usize>());
                match (bounds.next(), bounds.next()) {
                    (Some(Ok(low)), Some(Ok(high))) if high >= low => jobs += high - low + 1,
                    (Some(Ok(_)), None) => jobs += 1,
                    _ => {}
                }
            }
        }
    }
    if jobs == 0 {
        jobs = thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    }
    jobs
}

fn one_line(text: &str) -> String {
    let mut line: String = text.chars().map(|c| if c == '\n' || c == '\r' { ' ' } else { c }).collect();
    if line.len() > 300 {
        let mut end = 300;
        while !line.is_char_boundary(end) {
            end -= 1;
        }
        line.truncate(end);
    }
    line
}

fn parent_of(pid: i32) -> Option<i32> {
    if let Ok(stat) = fs::read_to_string(format!("/proc/{}/stat", pid)) {
        let after = &stat[stat.rfind(')')? + 1..];
        return after.split_whitespace().nth(1)?.parse().ok();
    }
    let out = Command::new("ps").args(["-o", "ppid=", "-p", &pid.to_string()]).output().ok()?;
    String::from_utf8_lossy(&out.stdout).trim().parse().ok()
}

fn main() {
    let args: Vec<OsString> = env::args_os().skip(1).collect();
    if args.len() == 1 && args[0] == "--version" {
        println!("buildkit admission holder");
        return;
    }
    if args.len() < 5 {
        fail("usage: holder KIND JOBS RESERVED JOBSERVER CMD [ARGS...]");
    }
    let arg = |i: usize| args[i].to_string_lossy().into_owned();
    let kind = arg(0);
    let jobserver = arg(3);
    let cmd = &args[4..];
    let dir = budget_dir();
    check_dir(&dir);
    let budget = Budget { dir: dir.clone(), kind: kind.clone() };

    let jobs_arg = arg(1);
    let jobs = if !jobs_arg.is_empty() && !jobs_arg.starts_with('0') && jobs_arg.bytes().all(|b| b.is_ascii_digit()) {
        jobs_arg.parse().unwrap_or(1)
    } else {
        cpu_count()
    };
    let reserved = arg(2).parse::<i64>().unwrap_or(0).min(jobs as i64 - 1).max(0) as usize;

    // what the status line shows: the cargo command behind this (the parent, on Linux), the
    // worktree it runs in, and the crate or program
    let ppid = unsafe { getppid() };
    let cargo = fs::read(format!("/proc/{}/cmdline", ppid))
        .map(|bytes| {
            let text = String::from_utf8_lossy(&bytes).into_owned();
            text.trim_end_matches('\0').replace(['\0', '\n'], " ")
        })
        .unwrap_or_default();
    let cwd = fs::read_link(format!("/proc/{}/cwd", ppid))
        .map(|p| p.to_string_lossy().into_owned())
        .or_else(|_| env::var("PWD"))
        .unwrap_or_else(|_| ".".to_string());
    let mut worktree = cwd.clone();
    let mut d = cwd.clone();
    while !d.is_empty() {
        if fs::symlink_metadata(format!("{}/.git", d)).is_ok() {
            worktree = d.clone();
            break;
        }
        match d.rfind('/') {
            Some(at) => d.truncate(at),
            None => d.clear(),
        }
    }
    let what = if kind == "light" || kind == "heavy" {
        let crate_name = cmd
            .iter()
            .position(|a| a == "--crate-name")
            .map(|at| cmd.get(at + 1).map(|c| c.to_string_lossy().into_owned()).unwrap_or_else(|| "?".into()))
            .unwrap_or_else(|| "?".into());
        format!("rustc {}{}", crate_name, if kind == "light" { " (metadata only)" } else { "" })
    } else {
        let program = cmd[0].to_string_lossy();
        let mut words = vec![program.rsplit('/').next().unwrap_or("").to_string()];
        words.extend(cmd[1..].iter().map(|a| a.to_string_lossy().into_owned()));
        words.join(" ")
    };
    let (what, cargo, cwd, worktree) = (one_line(&what), one_line(&cargo), one_line(&cwd), one_line(&worktree));

    // a runner inside a test or program that already holds slots (a test that runs `cargo
    // test` on a fixture) runs at once: waiting for a slot its own ancestor holds could never end
    if kind == "test" || kind == "run" {
        let mut ancestors = HashSet::new();
        let mut p = ppid;
        for _ in 0..64 {
            if p <= 1 || !ancestors.insert(p) {
                break;
            }
            match parent_of(p) {
                Some(parent) => p = parent,
                None => break,
            }
        }
        for i in 0..jobs {
            let pid = match record_field(&format!("{}.rec", budget.slot_path(i)), "pid") {
                Some(pid) => pid,
                None => continue,
            };
            match pid.parse::<i32>() {
                Ok(pid) if ancestors.contains(&pid) => {}
                _ => continue,
            }
            let lock = budget.open_lock(&format!("{}.lock", budget.slot_path(i)));
            if try_lock(&lock, LOCK_EX) {
                continue; // free: the record is stale
            }
            let error = Command::new(&cmd[0]).args(&cmd[1..]).exec();
            fail(&format!("cannot run {}: {}", cmd[0].to_string_lossy(), reason(&error)));
        }
    }

    let mine: Vec<usize> = if kind == "test" || kind == "run" { (reserved..jobs).collect() } else { (0..jobs).collect() };
    let mut locks: Vec<Option<File>> = (0..jobs).map(|_| None).collect();
    for &i in &mine {
        locks[i] = Some(budget.open_lock(&format!("{}.lock", budget.slot_path(i))));
    }
    let started = now();
    let clock = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.subsec_nanos() as u64).unwrap_or(0);
    let mut jitter = Jitter((u64::from(std::process::id()) << 32) ^ clock ^ 0x9e37_79b9_7f4a_7c15);

    let mut got = budget.take_one(&mine, &locks);
    let mut wait_record: Option<(String, Option<File>)> = None;
    if got.is_none() {
        let path = format!("{}/wait-{}-{}.rec", dir, kind, std::process::id());
        let fields = [
            std::process::id().to_string(),
            kind.clone(),
            started.to_string(),
            "0".into(),
            cwd.clone(),
            worktree.clone(),
            what.clone(),
            cargo.clone(),
        ];
        let held = budget.write_record(&path, true, &fields);
        wait_record = Some((path, held));
        // every waiter polls (a poll is a few system calls): a free slot is taken within 5-10
        // ms in the first half second (most waits of an edit-test loop are that short: a
        // compile waiting for the slot a lone compile lent itself), then within 40-80 ms (20-40
        // for a light one, served first). On a saturated machine every wake-up waits for a
        // core, so many waiters polling fast would crowd the run queue.
        let poll_until = Instant::now() + Duration::from_millis(500);
        loop {
            got = budget.take_one(&mine, &locks);
            if got.is_some() {
                break;
            }
            let pause = if Instant::now() < poll_until {
                jitter.millis(5, 5)
            } else if kind == "light" {
                jitter.millis(20, 20)
            } else {
                jitter.millis(40, 40)
            };
            thread::sleep(pause);
        }
    }
    let got = got.expect("a slot");
    let mut held = vec![got];
    let fields = [
        std::process::id().to_string(),
        kind.clone(),
        now().to_string(),
        now().saturating_sub(started).to_string(),
        cwd,
        worktree,
        what,
        cargo,
    ];
    budget.write_record(&format!("{}.rec", budget.slot_path(got)), false, &fields);
    if let Some((path, lock)) = wait_record {
        let _ = fs::remove_file(&path);
        drop(lock);
    }
    let mut command = Command::new(&cmd[0]);
    command.args(&cmd[1..]);
    // a test binary runs a thread per core: it takes more free slots, up to half of those it
    // may hold, while nobody waits, and is told to run that many tests at once
    if kind == "test" && env::var_os("RUST_TEST_THREADS").is_none() {
        let mut want = (mine.len() / 2) as i64 - 1;
        for &i in &mine {
            if want <= 0 {
                break;
            }
            if i == got {
                continue;
            }
            if budget.anyone_waiting() {
                break;
            }
            if !try_lock(locks[i].as_ref().expect("a lock of mine"), LOCK_EX) {
                continue;
            }
            budget.write_record(&format!("{}.rec", budget.slot_path(i)), false, &fields);
            held.push(i);
            want -= 1;
        }
        command.env("RUST_TEST_THREADS", held.len().to_string());
    }
    // A compile (and rustdoc) gets a jobserver of its own instead of the one of its cargo (see
    // the perl program): tokens = the slots it holds minus one. pipe(2) leaves both ends
    // inheritable, and this program starts no other child from here on.
    let mut tokens: Option<(File, File)> = None;
    if jobserver != "0" && !jobserver.is_empty() {
        let mut fds: [c_int; 2] = [-1, -1];
        if unsafe { pipe(fds.as_mut_ptr()) } != 0 {
            fail(&format!("cannot create a pipe: {}", reason(&io::Error::last_os_error())));
        }
        let (reader, mut writer) = unsafe { (File::from_raw_fd(fds[0]), File::from_raw_fd(fds[1])) };
        if held.len() > 1 {
            let _ = writer.write_all("+".repeat(held.len() - 1).as_bytes());
        }
        let auth = format!("{},{}", fds[0], fds[1]);
        command.env("CARGO_MAKEFLAGS", format!("-j --jobserver-fds={} --jobserver-auth={}", auth, auth));
        tokens = Some((reader, writer));
    }
    let lend = jobserver == "2" && mine.len() > 1;
    if !lend {
        for (i, lock) in locks.iter_mut().enumerate() {
            if !held.contains(&i) {
                *lock = None;
            }
        }
    }

    let child = command.spawn();
    let status = match child {
        Err(error) => {
            eprintln!("{}: cannot run {}: {}", ME, cmd[0].to_string_lossy(), reason(&error));
            None
        }
        Ok(mut child) => {
            CHILD.store(child.id() as i32, Ordering::SeqCst);
            for sig in FORWARDED {
                unsafe { signal(sig, forward as extern "C" fn(c_int) as usize) };
            }
            if lend {
                let (reader, writer) = tokens.as_mut().expect("a jobserver");
                // the compile reads tokens as this holder does; the jobserver crate copes with
                // a non-blocking pipe, so taking a token back never blocks this process
                unsafe {
                    let flags = fcntl(reader.as_raw_fd(), F_GETFL, 0);
                    fcntl(reader.as_raw_fd(), F_SETFL, flags | O_NONBLOCK);
                }
                let (done, ended) = mpsc::channel();
                thread::spawn(move || {
                    let _ = done.send(child.wait());
                });
                loop {
                    // a waiter gets a lent slot back within 10 ms (a look is a directory read);
                    // with nothing lent, a look every 50 ms is enough to lend again; the
                    // compile's end is seen at once
                    let look = if held.len() > 1 { 10 } else { 50 };
                    match ended.recv_timeout(Duration::from_millis(look)) {
                        Ok(result) => break result.ok(),
                        Err(mpsc::RecvTimeoutError::Disconnected) => break None,
                        Err(mpsc::RecvTimeoutError::Timeout) => {}
                    }
                    if budget.waiting("") {
                        let mut token = [0u8; 1];
                        while held.len() > 1 && matches!(reader.read(&mut token), Ok(1)) {
                            let i = held.pop().expect("a lent slot");
                            let _ = fs::remove_file(format!("{}.rec", budget.slot_path(i)));
                            unlock(locks[i].as_ref().expect("a lock of mine"));
                        }
                    } else {
                        for &i in &mine {
                            if held.contains(&i) {
                                continue;
                            }
                            let lock = locks[i].as_ref().expect("a lock of mine");
                            if !try_lock(lock, LOCK_EX) {
                                continue;
                            }
                            if budget.waiting("") {
                                unlock(lock);
                                break;
                            }
                            budget.write_record(&format!("{}.rec", budget.slot_path(i)), false, &fields);
                            held.push(i);
                            let _ = writer.write_all(b"+");
                        }
                    }
                }
            } else {
                child.wait().ok()
            }
        }
    };
    for &i in &held {
        let _ = fs::remove_file(format!("{}.rec", budget.slot_path(i)));
    }
    let status = match status {
        Some(status) => status,
        None => exit(127),
    };
    if let Some(sig) = status.signal() {
        for s in FORWARDED {
            unsafe { signal(s, SIG_DFL) };
        }
        drop(locks);
        unsafe { kill(std::process::id() as i32, sig) };
        exit(128 + sig);
    }
    exit(status.code().unwrap_or(1))
}
BK_HOLDER_RS
