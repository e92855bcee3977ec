# shellcheck shell=sh
# lld: the tests prove `cargo.linker: lld` by linking with it for real (binutils ships none).
apt_install lld
