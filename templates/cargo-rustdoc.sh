#!/bin/sh
# buildkit's rustdoc: `build.rustdoc` in .cargo/config.toml (docs/cq.md, "Admission"). cargo
# runs it in place of rustdoc for `cargo doc` and for doctests (`cargo test` runs `rustdoc
# --test`, which compiles and runs every doctest), however cargo was started. It hands the call
# to the rustc wrapper beside it, which runs the rustdoc of the toolchain cargo runs (the one
# beside $CARGO, so `cargo +nightly test` gets nightly's) holding slots of this user's CPU budget.
# Portable: POSIX sh (dash, bash 3.2).
case $0 in
    */*) bk_bin=${0%/*} ;;
    *) bk_bin=. ;;
esac
# read by this shell rather than a second one (half a millisecond for every test process):
# the wrapper ends in exec or exit, so nothing below this line runs
# shellcheck disable=SC2034 # read by the wrapper (bk_self_path)
bk_wrapper_file=$bk_bin/rustc-wrapper
set -- --buildkit-rustdoc "$@"
# shellcheck source=/dev/null
. "$bk_bin/rustc-wrapper"
