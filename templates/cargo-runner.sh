#!/bin/sh
# buildkit's cargo runner: `target.'cfg(all())'.runner` in .cargo/config.toml (docs/cq.md,
# "Admission"). cargo runs every test binary and `cargo run` program through it, however cargo
# was started: `runner PROGRAM ARGS...`. It hands PROGRAM to the rustc wrapper beside it, which
# runs it holding a slot of this user's CPU budget, the one every compile takes.
# Portable: POSIX sh (dash, bash 3.2).
case $0 in
    */*) bk_bin=${0%/*} ;;
    *) bk_bin=. ;;
esac
# read by this shell rather than a second one (half a millisecond for every test process):
# the wrapper ends in exec or exit, so nothing below this line runs
# shellcheck disable=SC2034 # read by the wrapper (bk_self_path)
bk_wrapper_file=$bk_bin/rustc-wrapper
set -- --buildkit-run "$@"
# shellcheck source=/dev/null
. "$bk_bin/rustc-wrapper"
