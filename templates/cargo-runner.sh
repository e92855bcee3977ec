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
exec /bin/sh "$bk_bin/rustc-wrapper" --buildkit-run "$@"
