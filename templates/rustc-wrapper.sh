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
# Environment: BUILDKIT_CACHE=off skips the cache; BUILDKIT_CACHE_REMOTE (read-write, read-only,
# off) says how this machine uses the team's store (cache.remote); BUILDKIT_CACHE_DIR moves its store and socket;
# BUILDKIT_SCCACHE names the sccache binary; SCCACHE_* settings of yours are kept. The budget's
# state is $BUILDKIT_ADMISSION_DIR, else $HOME/.cache/buildkit/admission (HOME from the
# environment, else the password file): not XDG_RUNTIME_DIR, which `env -i` or a login shell
# may drop or change, splitting the budget in two.
# Portable: POSIX sh (dash, bash 3.2) and core perl (perl-base; macOS ships it) for the locks.
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

# -- admission ---------------------------------------------------------------------------------
# The lock holder is perl: it may open any number of slots on descriptors of its own (a shell
# has only 3-9, and cargo's jobserver already uses some of them), marks them close-on-exec so
# no child (sccache's server, a test's daemon) can carry a slot away, waits for the admitted
# command and exits with its status. Slot i is <dir>/slot-<i>.lock; <dir>/slot-<i>.rec says who
# holds it; <dir>/wait-<kind>-<pid>.rec says who waits (locked shared while its waiter lives).
# Kinds: light (a metadata-only compile: check, clippy) is served before anything else;
# heavy (a compile that generates code); test (a test binary: it may take more slots, free at
# that moment, and gets RUST_TEST_THREADS to match); run (`cargo run`'s program). Test and run
# never hold the first `compile_only` slots, so a compile is never stuck behind a long test run.
# shellcheck disable=SC2016 # perl code, expanded by perl
bk_admit_pl='
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
'

# bk_admit KIND JOBSERVER CMD [ARGS...]: run CMD holding a slot of the budget (exec: never
# returns); JOBSERVER=1 gives it a jobserver of the slots it holds (a compile, rustdoc), 2 also
# lends it free slots while nobody waits (a compile that generates code).
bk_admit() {
    if ! command -v perl >/dev/null 2>&1; then
        printf '%s\n' "buildkit admission: perl is not on PATH, so builds here are not kept within the CPU budget; install perl (perl-base) or set admission.enabled: false" >&2
        shift 2
        exec "$@"
    fi
    bk_kind=$1 bk_jobserver=$2
    shift 2
    exec perl -e "$bk_admit_pl" "$bk_kind" "$bk_jobs" "$bk_compile_only" "$bk_jobserver" "$@"
}

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
    case $0 in
        /*) bk_self=$0 ;;
        *) bk_self=$(pwd -P)/$0 ;;
    esac
    # a compile that generates code may lend itself free slots (2); a metadata-only one needs one
    bk_lend=1
    [ "$bk_kind" = light ] || bk_lend=2
    bk_cacheable "$@" || bk_admit "$bk_kind" "$bk_lend" "$@"
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
if [ "$bk_rc" = 0 ] && [ -n "$bk_rlib" ]; then bk_share "$bk_rlib"; fi
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
