#!/bin/sh
# cq: buildkit's build queue for cargo (docs/cq.md).
#   cq [+toolchain] COMMAND [ARGS...]   cargo; CPU-heavy commands wait for the queue
#   cq exec CMD [ARGS...]               run any command holding the queue
#   cq status [--json]                  who holds the queue and the CPU budget, who waits
#   cq kill                             stop the holder's whole process group
# Exit codes: the command's own; 128+N after signal N; 64 usage; 69 a needed tool is missing;
# 75 gave up waiting (CQ_WAIT_TIMEOUT); 77 unsafe state directory.
# Portable: POSIX sh (dash, bash 3.2), with perl standing in for flock(1)/setsid(1) when absent.
set -u
set -C

# >>> profile values >>>
# `buildkit render` replaces these lines with buildkit.yaml's values (render/cq.py); as
# committed they are the schema's defaults, so this file runs and lints as it is.
cq_default_scope=user
cq_heavy=' build b test t check c clippy run r bench doc d nextest rustc rustdoc install fix '
cq_oneshot=' bench doc d rustdoc '
cq_default_grace=10
cq_default_timeout=0
cq_burst=1
cq_gc_max_size=''
cq_gc_max_age=''
cq_gc_interval=3600
# <<< profile values <<<
cq_is_cargo=0

cq_say() { printf 'cq: %s\n' "$*" >&2; }
cq_die() { cq_code=$1; shift; cq_say "$*"; exit "$cq_code"; }
cq_usage() {
    cq_die 64 "usage: cq [+toolchain] CARGO-COMMAND [ARGS...] | cq exec CMD [ARGS...] | cq status [--json] | cq kill"
}
cq_is_uint() { case $1 in '' | *[!0-9]*) return 1 ;; esac; }
# cq_oneline TEXT: TEXT on one line (for key=value records), in $cq_one.
cq_oneline() {
    case $1 in
        *'
'*) cq_one=$(printf '%s' "$1" | tr '\n\r' '  ') ;;
        *) cq_one=$1 ;;
    esac
}
# cq_clear PATH: make room for a fresh file (rm only when something is there).
cq_clear() {
    if [ -e "$1" ] || [ -L "$1" ]; then rm -f -- "$1"; fi
}

# -- tools: util-linux flock/setsid when present, else perl (macOS has neither CLI) ----------
cq_tools() {
    cq_flock_bin=$(command -v flock 2>/dev/null) || cq_flock_bin=''
    cq_setsid_bin=$(command -v setsid 2>/dev/null) || cq_setsid_bin=''
    if [ -z "$cq_flock_bin" ] || [ -z "$cq_setsid_bin" ]; then
        command -v perl >/dev/null 2>&1 \
            || cq_die 69 "neither flock/setsid nor perl is on PATH; install util-linux or perl"
    fi
    command -v mkfifo >/dev/null 2>&1 || cq_die 69 "mkfifo is not on PATH; install coreutils"
}

# cq_flock MODE FD: ex (wait), exnb (try), sh (shared, wait) on an open descriptor. The lock
# belongs to the open file description, so it outlives the helper process that took it.
cq_flock() {
    if [ -n "$cq_flock_bin" ]; then
        case $1 in
            ex) "$cq_flock_bin" -x "$2" ;;
            exnb) "$cq_flock_bin" -x -n "$2" ;;
            sh) "$cq_flock_bin" -s "$2" ;;
        esac
    else
        perl -MFcntl=:flock -e '
            my ($mode, $fd) = @ARGV;
            open(my $f, "<&=", $fd) or exit 3;
            my $op = $mode eq "sh" ? LOCK_SH : LOCK_EX;
            $op |= LOCK_NB if $mode eq "exnb";
            exit(flock($f, $op) ? 0 : 1);' "$1" "$2"
    fi
}

# cq_detach CMD [ARGS...]: exec CMD as the leader of a new session (and process group).
cq_detach() {
    if [ -n "$cq_setsid_bin" ]; then
        exec "$cq_setsid_bin" "$@"
    fi
    exec perl -MPOSIX -e '
        POSIX::setsid() or die "cq: setsid: $!\n";
        exec { $ARGV[0] } @ARGV or die "cq: cannot run $ARGV[0]: $!\n";' "$@"
}

# -- state: a private directory, never a predictable path in a world-writable one ---------
# cq_state_path: where the state lives (cq_dir), without creating or checking it.
cq_state_path() {
    if [ -n "${CQ_STATE_DIR:-}" ]; then
        cq_dir=$CQ_STATE_DIR
    elif [ -n "${XDG_RUNTIME_DIR:-}" ]; then
        cq_dir=$XDG_RUNTIME_DIR/buildkit-cq
    elif [ -n "${HOME:-}" ]; then
        cq_dir=$HOME/.cache/buildkit-cq
    else
        cq_die 77 "no place for cq's state: set CQ_STATE_DIR, XDG_RUNTIME_DIR or HOME"
    fi
}

cq_state() {
    cq_state_path
    case $cq_dir in
        /*) ;;
        *) cq_die 77 "state directory $cq_dir is not an absolute path; fix CQ_STATE_DIR" ;;
    esac
    if [ ! -e "$cq_dir" ] && [ ! -L "$cq_dir" ]; then
        (umask 077 && mkdir -p -- "$cq_dir") 2>/dev/null || cq_unwritable
    fi
    cq_private_dir "$cq_dir" \
        "state directory $cq_dir" "choose another CQ_STATE_DIR, or remove it and run cq again"
    [ -w "$cq_dir" ] || cq_unwritable
}

# A sandboxed agent (Claude Code's or Codex's) may write only where its settings allow: say
# which folder to allow, in one line (docs/agents.md).
cq_unwritable() {
    cq_die 77 "cannot write cq's state directory $cq_dir (a sandbox that does not allow it?): allow writes to $cq_dir (Claude Code: sandbox.filesystem.allowWrite; Codex: sandbox_workspace_write.writable_roots), or set CQ_STATE_DIR to a folder every build here can write"
}

# cq_private_dir DIR WHAT FIX [inside]: refuse a directory that is a symlink, not ours, or
# not 0700 (the mode is not checked again for folders cq made inside the checked one).
cq_private_dir() {
    if [ -L "$1" ]; then
        cq_die 77 "$2 is a symbolic link; refusing to use it: $3"
    elif [ ! -d "$1" ]; then
        cq_die 77 "$2 is missing or not a directory and cannot be created: $3"
    elif [ ! -O "$1" ]; then
        cq_die 77 "$2 is not owned by you (uid $(id -u)); refusing to use it: $3"
    fi
    [ "${4:-}" = inside ] && return 0
    cq_mode=$(ls -ldn -- "$1" 2>/dev/null) || cq_die 77 "cannot inspect $2: $3"
    case $cq_mode in
        d???------[[:space:].@]*) ;;
        *)
            # chmod 700 leaves a directory's setgid bit (GNU) and any ACL in place: name the
            # command that removes each
            cq_fix="chmod 700 '$1'"
            case $cq_mode in
                d?????[sS]*) cq_fix="chmod g-s '$1' && $cq_fix" ;;
            esac
            case $cq_mode in
                d?????????+*)
                    if [ "$(uname -s 2>/dev/null)" = Darwin ]; then
                        cq_fix="chmod -N '$1' && $cq_fix"
                    else
                        cq_fix="setfacl -b '$1' && $cq_fix"
                    fi
                    ;;
            esac
            cq_die 77 "$2 is accessible to others ($(printf '%.11s' "$cq_mode")); run: $cq_fix"
            ;;
    esac
}

# cq_file PATH: create an empty regular file without following a symlink planted there.
cq_file() {
    if [ -L "$1" ]; then
        cq_die 77 "$1 is a symbolic link; refusing to use it: remove it and run cq again"
    fi
    if [ ! -e "$1" ]; then
        cq_tmp=$cq_qd/.new.$$
        cq_clear "$cq_tmp"
        : >"$cq_tmp" || cq_die 77 "cannot create $cq_tmp"
        ln -- "$cq_tmp" "$1" 2>/dev/null # fails when another cq made it first: fine
        rm -f -- "$cq_tmp"
    fi
    if [ -L "$1" ] || [ ! -f "$1" ]; then
        cq_die 77 "$1 is not a regular file; remove it and run cq again"
    fi
}

# cq_write PATH FORMAT [ARGS...]: printf to a fresh name in the private directory, then
# rename it over PATH (which replaces a symlink planted there instead of writing through it).
cq_write() {
    cq_tmp=$cq_qd/.tmp.$$
    cq_clear "$cq_tmp"
    cq_path=$1
    shift
    # shellcheck disable=SC2059 # the format is the caller's constant
    printf "$@" >"$cq_tmp" && mv -f -- "$cq_tmp" "$cq_path"
}

cq_git_common() {
    cq_common=$(git rev-parse --git-common-dir 2>/dev/null) || return 1
    (cd -- "$cq_common" 2>/dev/null && pwd -P)
}

cq_queue() {
    cq_state
    cq_scope=${CQ_SCOPE:-$cq_default_scope}
    cq_key=user
    cq_name=user
    case $cq_scope in
        user) ;;
        repository)
            if cq_repo=$(cq_git_common); then
                cq_key=repo-$(printf '%s' "$cq_repo" | cksum | cut -d ' ' -f 1)
                cq_name="repository $cq_repo"
            fi
            ;;
        *) cq_die 64 "CQ_SCOPE=$cq_scope: must be user or repository" ;;
    esac
    cq_holder=$cq_dir/$cq_key.holder
    cq_qd=$cq_dir/$cq_key.d
    cq_wd=$cq_qd/waiters
    for cq_d in "$cq_qd" "$cq_wd"; do
        if [ ! -e "$cq_d" ] && [ ! -L "$cq_d" ]; then
            (umask 077 && mkdir -- "$cq_d") 2>/dev/null
        fi
        cq_private_dir "$cq_d" "$cq_d" "remove it and run cq again" inside
    done
    cq_file "$cq_qd/lock"
    cq_file "$cq_qd/ticket.lock"
}

# cq_read_record FILE: pid, pgid, started, cwd, cmd of a holder record or waiter ticket.
cq_read_record() {
    r_pid='' r_pgid='' r_started='' r_cwd='' r_cmd=''
    [ -f "$1" ] && [ ! -L "$1" ] || return 1
    while IFS= read -r cq_line || [ -n "$cq_line" ]; do
        case $cq_line in
            pid=*) r_pid=${cq_line#pid=} ;;
            pgid=*) r_pgid=${cq_line#pgid=} ;;
            started=*) r_started=${cq_line#started=} ;;
            cwd=*) r_cwd=${cq_line#cwd=} ;;
            cmd=*) r_cmd=${cq_line#cmd=} ;;
        esac
    done <"$1"
    cq_is_uint "$r_pid"
}

cq_age() {
    if cq_is_uint "$1"; then echo "$(($(date +%s) - $1))s"; else echo "?s"; fi
}

# A waiter holds a shared lock on its ticket for as long as it lives (a dead or zombie waiter
# has closed it): taking an exclusive lock on someone's ticket proves its owner is gone.
cq_ticket_dead() {
    cq_flock exnb 3 2>/dev/null 3<"$1"
}

# -- waiting: first come, first served ------------------------------------------------------
cq_take_ticket() {
    exec 4<"$cq_qd/ticket.lock" || cq_die 77 "cannot open $cq_qd/ticket.lock"
    cq_flock ex 4 || cq_die 69 "cannot lock $cq_qd/ticket.lock"
    read -r cq_seq 2>/dev/null <"$cq_qd/seq" || cq_seq=0
    cq_is_uint "$cq_seq" || cq_seq=0
    cq_seq=$((cq_seq + 1))
    cq_write "$cq_qd/seq" '%s\n' "$cq_seq" || cq_die 77 "cannot write $cq_qd/seq"
    cq_new=$cq_qd/.ticket.$$
    cq_clear "$cq_new"
    printf 'pid=%s\nstarted=%s\ncwd=%s\ncmd=%s\n' "$$" "$cq_started" "$cq_cwd" "$cq_cmd" \
        >"$cq_new" || cq_die 77 "cannot write $cq_new"
    exec 8<"$cq_new"
    cq_flock sh 8 || cq_die 69 "cannot lock $cq_new"
    cq_ticket=$cq_wd/$(printf '%012d' "$cq_seq").$$
    mv -f -- "$cq_new" "$cq_ticket" || cq_die 77 "cannot move $cq_new to $cq_ticket"
    exec 4<&-
}

cq_wait_turn() {
    exec 9<"$cq_qd/lock" || cq_die 77 "cannot open $cq_qd/lock"
    cq_told=0
    while :; do
        cq_head='' cq_ahead=0
        for cq_t in "$cq_wd"/*; do
            [ -e "$cq_t" ] || continue
            if [ "$cq_t" = "$cq_ticket" ]; then
                [ -n "$cq_head" ] || cq_head=$cq_t
                break
            fi
            if [ -z "$cq_head" ]; then
                if cq_ticket_dead "$cq_t"; then
                    rm -f -- "$cq_t"
                    continue
                fi
                cq_head=$cq_t
            fi
            cq_ahead=$((cq_ahead + 1))
        done
        [ -e "$cq_ticket" ] || cq_die 77 "cq's ticket $cq_ticket vanished; is something cleaning $cq_dir?"
        if [ "$cq_head" = "$cq_ticket" ]; then
            cq_flock exnb 9 && return 0
            cq_pause=0.2
        else
            cq_pause=0.5
        fi
        if [ "$cq_told" = 0 ]; then
            cq_told=1
            cq_behind=''
            [ "$cq_ahead" -gt 0 ] && cq_behind=" ($cq_ahead ahead of you)"
            if cq_read_record "$cq_holder"; then
                cq_say "waiting for $r_pid $r_cmd in $r_cwd since $(cq_age "$r_started")$cq_behind"
            else
                cq_say "waiting for the queue$cq_behind"
            fi
        fi
        if [ "$cq_timeout" -gt 0 ] && [ $(($(date +%s) - cq_started)) -ge "$cq_timeout" ]; then
            cq_what='the queue'
            cq_read_record "$cq_holder" && cq_what="$r_pid $r_cmd in $r_cwd"
            cq_cleanup
            cq_die 75 "gave up after ${cq_timeout}s waiting for $cq_what; raise CQ_WAIT_TIMEOUT (0 waits forever) or run cq status"
        fi
        sleep "$cq_pause"
    done
}

# -- holding: the command in its own session, a watchdog in another ------------------------
# The watchdog reads a pipe whose only writer is this cq: end of file means cq has exited, or
# was SIGKILLed, or is stopping. It then TERMs the build's group, waits up to the grace period
# for it to empty (zombies do not count), KILLs what is left, and exits. It holds the queue's
# lock meanwhile, so the next build cannot start before this one is gone.
# cq_watchdog CQ_PID GRACE HOLDER_FILE, run as `cq __watchdog …` in its own session with the
# pipe's read end on fd 7.
cq_watchdog() {
    cq_w_group=""
    read -r cq_w_group <&7 || exit 0
    while read -r _ <&7; do :; done
    kill -TERM "-$cq_w_group" 2>/dev/null || kill -TERM "$cq_w_group" 2>/dev/null
    cq_w_i=0
    while cq_group_alive "$cq_w_group"; do
        if [ "$cq_w_i" -ge $(($2 * 5)) ]; then
            kill -KILL "-$cq_w_group" 2>/dev/null
            break
        fi
        sleep 0.2
        cq_w_i=$((cq_w_i + 1))
    done
    if cq_read_record "$3" && [ "$r_pid" = "$1" ]; then rm -f -- "$3"; fi
}

# cq_group_alive PGID: a member of the group is alive (zombies do not count; without a usable
# ps, any member that kill can signal counts).
cq_group_alive() {
    kill -0 "-$1" 2>/dev/null || return 1
    cq_w_ps=$(ps -A -o pgid= -o stat= 2>/dev/null) || return 0
    [ -n "$cq_w_ps" ] || return 0
    printf '%s\n' "$cq_w_ps" | awk -v g="$1" '$1 == g && $2 !~ /^Z/ { f = 1 } END { exit !f }'
}

cq_run() {
    cq_fifo=$cq_qd/.watch.$$
    cq_clear "$cq_fifo"
    mkfifo -m 600 -- "$cq_fifo" || cq_die 69 "cannot create the pipe $cq_fifo"
    # fd 6 (read-write, so opening never blocks) is the pipe's only writer; fd 7 its reader.
    # shellcheck disable=SC2094 # the same pipe on purpose
    exec 6<>"$cq_fifo" 7<"$cq_fifo"
    rm -f -- "$cq_fifo"
    cq_detach /bin/sh "$cq_self" __watchdog "$$" "$cq_grace" "$cq_holder" \
        </dev/null >/dev/null 2>&1 4>&- 5>&- 6>&- 8>&- &
    cq_w=$!
    exec 7<&-
    umask "$cq_umask"
    # shellcheck disable=SC2016 # expanded by the leader's shell
    cq_detach /bin/sh -c 'echo "$$" >&6; exec "$@" 3<&- 6>&- 9<&-' cq-build "$@" \
        0<&5 4>&- 5<&- 8>&- &
    cq_g=$!
    umask 077
    # held since now; cq_started when the queue was free at once (a `date` less for every
    # command: the edit-test loop runs cq once a turn)
    cq_since=$cq_started
    [ "$cq_told" = 0 ] || cq_since=$(date +%s)
    # The record names the group only once it exists: setsid runs in the child a moment after
    # the fork (longer where perl stands in), and `cq kill`/gc must find the group it names.
    # A bounded spin first: setsid takes about a millisecond, a `sleep` 10 ms of every
    # command's wall time.
    cq_spin=0
    while { ! kill -0 "-$cq_g" && kill -0 "$cq_g"; } 2>/dev/null; do
        cq_spin=$((cq_spin + 1))
        [ "$cq_spin" -le 500 ] || sleep 0.01
    done
    cq_write "$cq_holder" 'pid=%s\npgid=%s\nstarted=%s\ncwd=%s\ncmd=%s\nqueue=%s\n' "$$" \
        "$cq_g" "$cq_since" "$cq_cwd" "$cq_cmd" "$cq_key"
    # the ticket goes once the record is there: a live cq always shows one or the other
    # (worktree removal refuses a worktree whose build either names)
    if [ -n "$cq_ticket" ]; then rm -f -- "$cq_ticket"; fi
    cq_ticket=''
    exec 8<&-
    wait "$cq_g"
    cq_rc=$?
    trap '' INT TERM HUP
    cq_g=''
    exec 6>&-
    wait "$cq_w"
    cq_auto_gc
    cq_cleanup
    exit "$cq_rc"
}

# The profile's gc section: after a cargo command, still holding the queue, at most once per
# interval (a stamp in the git common dir), cq runs `buildkit gc` when it is on PATH; without
# it (a laptop, a devcontainer) it says so once and carries on.
cq_auto_gc() {
    [ "$cq_is_cargo" = 1 ] && [ -n "$cq_gc_max_size$cq_gc_max_age" ] || return 0
    trap 'cq_on_signal 1' HUP
    trap 'cq_on_signal 2' INT
    trap 'cq_on_signal 15' TERM
    if cq_gc_dir=$(cq_git_common); then cq_gc_dir=$cq_gc_dir/buildkit; else cq_gc_dir=$cq_qd; fi
    mkdir -p -- "$cq_gc_dir" 2>/dev/null || return 0
    if ! command -v buildkit >/dev/null 2>&1; then
        [ -e "$cq_gc_dir/gc.noted" ] && return 0
        : >"$cq_gc_dir/gc.noted" 2>/dev/null
        cq_say "buildkit.yaml asks for automatic gc, but buildkit is not on PATH: target dirs" \
            "are not cleaned (install buildkit, or run \`buildkit gc\` elsewhere); said once"
        return 0
    fi
    cq_now=$(date +%s)
    cq_last=$(cat -- "$cq_gc_dir/gc.stamp" 2>/dev/null) || cq_last=''
    if cq_is_uint "$cq_last" && [ $((cq_now - cq_last)) -lt "$cq_gc_interval" ]; then
        return 0
    fi
    printf '%s\n' "$cq_now" >|"$cq_gc_dir/gc.stamp"
    buildkit gc --no-queue ${cq_gc_max_size:+--max-size "$cq_gc_max_size"} \
        ${cq_gc_max_age:+--older-than "$cq_gc_max_age"} >/dev/null </dev/null \
        || cq_say "buildkit gc failed (exit $?); the build's own result stands"
}

cq_cleanup() {
    if [ -n "$cq_ticket" ]; then rm -f -- "$cq_ticket"; fi
    if [ -n "$cq_holder" ] && cq_read_record "$cq_holder" && [ "$r_pid" = "$$" ]; then
        rm -f -- "$cq_holder"
    fi
}

cq_on_signal() {
    trap '' INT TERM HUP
    if [ -n "$cq_g" ]; then
        kill -TERM "-$cq_g" 2>/dev/null || kill -TERM "$cq_g" 2>/dev/null
        exec 6>&-
        wait "$cq_g"
        wait "$cq_w"
    fi
    cq_cleanup
    exit $((128 + $1))
}

# cq_hold CMD [ARGS...]: wait for the queue, run CMD holding it, exit with its status.
cq_hold() {
    cq_ticket='' cq_holder='' cq_g='' cq_w=''
    trap 'cq_on_signal 1' HUP
    trap 'cq_on_signal 2' INT
    trap 'cq_on_signal 15' TERM
    cq_umask=$(umask)
    umask 077
    cq_tools
    cq_queue
    cq_started=$(date +%s)
    cq_oneline "${PWD:-$(pwd)}"
    cq_cwd=$cq_one
    cq_oneline "$*"
    cq_cmd=$cq_one
    cq_grace=${CQ_GRACE_SECONDS:-$cq_default_grace}
    cq_is_uint "$cq_grace" || cq_die 64 "CQ_GRACE_SECONDS=$cq_grace: must be a whole number of seconds"
    cq_timeout=${CQ_WAIT_TIMEOUT:-$cq_default_timeout}
    cq_is_uint "$cq_timeout" || cq_die 64 "CQ_WAIT_TIMEOUT=$cq_timeout: must be a whole number of seconds (0 waits forever)"
    # A command run by the holder (a build script, a test, `cq exec sh`) that calls cq again
    # must not wait for its own queue: the holder is alive and no other holder is recorded
    # (the record is written just after the command starts, so it may not be there yet).
    if [ -n "${CQ_HOLDER_PID:-}" ] && [ "${CQ_QUEUE:-}" = "$cq_key" ] \
        && kill -0 "$CQ_HOLDER_PID" 2>/dev/null \
        && { ! cq_read_record "$cq_holder" || [ "$r_pid" = "$CQ_HOLDER_PID" ]; }; then
        trap - HUP INT TERM
        umask "$cq_umask"
        exec "$@"
    fi
    CQ_HOLDER_PID=$$
    CQ_QUEUE=$cq_key
    export CQ_HOLDER_PID CQ_QUEUE
    # keep stdin for the command (a background job would get /dev/null); it may be closed
    { command exec 5<&0; } 2>/dev/null || exec 5</dev/null
    # A queue nobody waits in and nobody holds is taken at once, without a ticket (four
    # processes less: the edit-test loop runs cq once a turn). Anyone who took a ticket first is
    # seen in the waiting room and served first; one who takes it a moment later finds the lock
    # held and waits as always.
    cq_told=0
    if cq_queue_idle && { exec 9<"$cq_qd/lock"; } 2>/dev/null && cq_flock exnb 9 2>/dev/null; then
        :
    else
        cq_take_ticket
        cq_wait_turn
    fi
    cq_run "$@"
}

# cq_queue_idle: nobody is in the waiting room (a ticket of a waiter that died counts: the
# waiters clear those)
cq_queue_idle() {
    for cq_t in "$cq_wd"/*; do
        if [ -e "$cq_t" ] || [ -L "$cq_t" ]; then return 1; fi
    done
    return 0
}

# -- cargo: which commands queue, and their environment ------------------------------------
cq_ncpu() {
    cq_n=$(nproc 2>/dev/null) || cq_n=$(getconf _NPROCESSORS_ONLN 2>/dev/null) \
        || cq_n=$(sysctl -n hw.ncpu 2>/dev/null) || return 1
    cq_is_uint "$cq_n" && [ "$cq_n" -gt 0 ] && echo "$cq_n"
}

cq_cargo() {
    cq_toolchain='' cq_sub='' cq_skip=0
    for cq_a in "$@"; do
        if [ "$cq_skip" = 1 ]; then
            cq_skip=0
            continue
        fi
        case $cq_a in
            +*) [ -n "$cq_toolchain" ] || cq_toolchain=$cq_a ;;
            --color | --config | -Z | -C | --explain) cq_skip=1 ;;
            -*) ;;
            *)
                cq_sub=$cq_a
                break
                ;;
        esac
    done
    case $cq_heavy in
        *" $cq_sub "*) ;;
        *) exec cargo "$@" ;;
    esac
    case $cq_oneshot in
        *" $cq_sub "*)
            if [ -z "${CARGO_INCREMENTAL+set}" ]; then
                CARGO_INCREMENTAL=0
                export CARGO_INCREMENTAL
            fi
            ;;
    esac
    if [ "$cq_burst" = 1 ] && [ -z "${CARGO_BUILD_JOBS+set}" ] && cq_jobs=$(cq_ncpu); then
        CARGO_BUILD_JOBS=$cq_jobs
        export CARGO_BUILD_JOBS
    fi
    cq_is_cargo=1
    cq_hold cargo "$@"
}

# -- inspect and control --------------------------------------------------------------------
# cq_admission_record FILE: a slot holder's or waiter's record (templates/rustc-wrapper.sh).
cq_admission_record() {
    a_pid='' a_kind='' a_started='' a_waited='' a_worktree='' a_cmd='' a_cargo=''
    [ -f "$1" ] && [ ! -L "$1" ] || return 1
    while IFS= read -r cq_line || [ -n "$cq_line" ]; do
        case $cq_line in
            pid=*) a_pid=${cq_line#pid=} ;;
            kind=*) a_kind=${cq_line#kind=} ;;
            started=*) a_started=${cq_line#started=} ;;
            waited=*) a_waited=${cq_line#waited=} ;;
            worktree=*) a_worktree=${cq_line#worktree=} ;;
            cmd=*) a_cmd=${cq_line#cmd=} ;;
            cargo=*) a_cargo=${cq_line#cargo=} ;;
        esac
    done <"$1"
    cq_is_uint "$a_pid"
}

# cq_json TEXT: TEXT as a JSON string, in $cq_js (records are one line already).
cq_json() {
    cq_js=$(printf '%s' "$1" | tr -d '\000-\037' | sed 's/\\/\\\\/g; s/"/\\"/g')
    cq_js="\"$cq_js\""
}

cq_admission_json() {
    cq_json "$a_kind"
    cq_j="\"pid\": $a_pid, \"kind\": $cq_js"
    cq_is_uint "$a_started" && cq_j="$cq_j, \"since\": $a_started"
    cq_is_uint "$a_waited" && cq_j="$cq_j, \"waited_seconds\": $a_waited"
    cq_json "$a_worktree"
    cq_j="$cq_j, \"worktree\": $cq_js"
    cq_json "$a_cmd"
    cq_j="$cq_j, \"command\": $cq_js"
    cq_json "$a_cargo"
    cq_j="$cq_j, \"cargo\": $cq_js"
}

# The CPU budget every compile and test binary takes a slot of (docs/cq.md, "Admission"): who
# holds each slot (a record whose lock is held) and who waits (a record its waiter keeps locked).
cq_admission_status() {
    cq_ad=${BUILDKIT_ADMISSION_DIR:-${HOME:-}/.cache/buildkit/admission}
    if [ "$cq_ad" = /.cache/buildkit/admission ] || [ ! -d "$cq_ad" ] || [ -L "$cq_ad" ] || [ ! -O "$cq_ad" ]; then
        if [ "$1" = json ]; then
            printf ', "admission": null'
        else
            echo "admission: no build has used the CPU budget yet"
        fi
        return 0
    fi
    cq_n=0 cq_rows='' cq_sep=''
    [ "$1" = json ] || cq_rows_text=''
    for cq_l in "$cq_ad"/slot-*.lock; do
        [ -f "$cq_l" ] || continue
        cq_n=$((cq_n + 1))
        cq_s=${cq_l##*/slot-}
        cq_s=${cq_s%.lock}
        if cq_flock exnb 3 2>/dev/null 3<"$cq_l"; then
            if [ "$1" = json ]; then
                cq_rows="$cq_rows$cq_sep{\"slot\": \"$cq_s\", \"free\": true}"
            else
                cq_rows_text="$cq_rows_text  slot $cq_s: free
"
            fi
        elif ! cq_admission_record "${cq_l%.lock}.rec"; then
            # taken a moment ago, its record not written yet
            if [ "$1" = json ]; then
                cq_rows="$cq_rows$cq_sep{\"slot\": \"$cq_s\", \"free\": false, \"pid\": null}"
            else
                cq_rows_text="$cq_rows_text  slot $cq_s: (starting)
"
            fi
        elif [ "$1" = json ]; then
            cq_admission_json
            cq_rows="$cq_rows$cq_sep{\"slot\": \"$cq_s\", \"free\": false, $cq_j}"
        else
            cq_rows_text="$cq_rows_text  slot $cq_s: pid $a_pid $a_kind for $(cq_age "$a_started") (waited ${a_waited:-?}s) in $a_worktree: $a_cmd${a_cargo:+ [$a_cargo]}
"
        fi
        cq_sep=', '
    done
    cq_waits='' cq_sep='' cq_i=0
    for cq_t in "$cq_ad"/wait-*.rec; do
        [ -f "$cq_t" ] || continue
        cq_ticket_dead "$cq_t" && continue
        cq_admission_record "$cq_t" || continue
        cq_i=$((cq_i + 1))
        if [ "$1" = json ]; then
            cq_admission_json
            cq_waits="$cq_waits$cq_sep{$cq_j}"
            cq_sep=', '
        else
            [ "$cq_i" = 1 ] && cq_rows_text="${cq_rows_text}waiting for a slot:
"
            cq_rows_text="$cq_rows_text  pid $a_pid $a_kind since $(cq_age "$a_started") in $a_worktree: $a_cmd${a_cargo:+ [$a_cargo]}
"
        fi
    done
    if [ "$1" = json ]; then
        cq_json "$cq_ad"
        printf ', "admission": {"state_dir": %s, "slots": [%s], "waiting": [%s]}' \
            "$cq_js" "$cq_rows" "$cq_waits"
    else
        echo "admission: $cq_n slots of the CPU budget (state: $cq_ad)"
        printf '%s' "$cq_rows_text"
        [ "$cq_i" -gt 0 ] || echo "waiting for a slot: nobody"
    fi
}

cq_status_json() {
    cq_tools
    cq_queue
    cq_json "$cq_name"
    printf '{"queue": {"name": %s' "$cq_js"
    if cq_read_record "$cq_holder" && kill -0 "$r_pid" 2>/dev/null; then
        cq_json "$r_cwd"
        cq_w=$cq_js
        cq_json "$r_cmd"
        printf ', "holder": {"pid": %s, "pgid": "%s", "since": "%s", "cwd": %s, "command": %s}' \
            "$r_pid" "$r_pgid" "$r_started" "$cq_w" "$cq_js"
    else
        printf ', "holder": null'
    fi
    printf ', "waiting": ['
    cq_sep=''
    for cq_t in "$cq_wd"/*; do
        [ -e "$cq_t" ] || continue
        cq_ticket_dead "$cq_t" && continue
        cq_read_record "$cq_t" || continue
        cq_json "$r_cwd"
        cq_w=$cq_js
        cq_json "$r_cmd"
        printf '%s{"pid": %s, "since": "%s", "cwd": %s, "command": %s}' "$cq_sep" "$r_pid" \
            "$r_started" "$cq_w" "$cq_js"
        cq_sep=', '
    done
    printf ']}'
    cq_admission_status json
    printf '}\n'
}

cq_status() {
    cq_tools
    cq_queue
    [ "$cq_name" != user ] || cq_name="user $(id -un 2>/dev/null || id -u)"
    echo "queue: $cq_name (state: $cq_dir)"
    if cq_read_record "$cq_holder" && kill -0 "$r_pid" 2>/dev/null; then
        echo "holder: pid $r_pid (group $r_pgid) for $(cq_age "$r_started") in $r_cwd: $r_cmd"
    else
        exec 9<"$cq_qd/lock"
        if cq_flock exnb 9; then echo "holder: none, the queue is free"; else echo "holder: (starting)"; fi
        exec 9<&-
    fi
    cq_i=0
    for cq_t in "$cq_wd"/*; do
        [ -e "$cq_t" ] || continue
        cq_ticket_dead "$cq_t" && continue
        cq_read_record "$cq_t" || continue
        cq_i=$((cq_i + 1))
        [ "$cq_i" = 1 ] && echo "waiting, first come first served:"
        echo "  $cq_i. pid $r_pid for $(cq_age "$r_started") in $r_cwd: $r_cmd"
    done
    [ "$cq_i" -gt 0 ] || echo "waiting: nobody"
    cq_admission_status text
}

cq_kill() {
    cq_tools
    cq_queue
    if ! cq_read_record "$cq_holder" || ! kill -0 "$r_pid" 2>/dev/null; then
        cq_say "the queue ($cq_name) is free: nothing to kill"
        exit 1
    fi
    cq_grace=${CQ_GRACE_SECONDS:-$cq_default_grace}
    cq_is_uint "$cq_grace" || cq_grace=$cq_default_grace
    k_pid=$r_pid k_pgid=$r_pgid k_what="$r_cmd in $r_cwd"
    kill -TERM "$k_pid" 2>/dev/null || cq_die 1 "cannot signal pid $k_pid (not yours?)"
    cq_i=0
    while cq_read_record "$cq_holder" && [ "$r_pid" = "$k_pid" ] \
        && [ "$cq_i" -lt $(((cq_grace + 5) * 5)) ]; do
        sleep 0.2
        cq_i=$((cq_i + 1))
    done
    if cq_is_uint "$k_pgid" && kill -0 "-$k_pgid" 2>/dev/null; then
        kill -KILL "-$k_pgid" 2>/dev/null
    fi
    cq_say "stopped pid $k_pid ($k_what) and its process group $k_pgid"
}

# cq_contract: the facts other programs (buildkit doctor and gc) rely on, as key=value lines,
# so they ask this script instead of re-implementing its rules (docs/cq.md, "State").
cq_contract() {
    cq_state_path
    printf 'state_dir=%s\n' "$cq_dir"
    printf 'holder_glob=%s\n' '*.holder'
    printf 'record_keys=%s\n' 'pid pgid started cwd cmd queue'
}

[ $# -gt 0 ] || cq_usage
# This very file, for the watchdog it starts (an absolute path: cq may change directory).
case $0 in
    /*) cq_self=$0 ;;
    *) cq_self=$(pwd -P)/$0 ;;
esac
case $1 in
    __watchdog)
        shift
        cq_watchdog "$@"
        ;;
    __contract) cq_contract ;;
    status)
        case ${2:-} in
            --json) cq_status_json ;;
            '') cq_status ;;
            *) cq_usage ;;
        esac
        ;;
    kill) cq_kill ;;
    exec)
        shift
        [ $# -gt 0 ] || cq_usage
        cq_hold "$@"
        ;;
    cargo)
        shift
        [ $# -gt 0 ] || cq_usage
        cq_cargo "$@"
        ;;
    *) cq_cargo "$@" ;;
esac
