# shellcheck shell=sh
# The rustup toolchains tests name (dev/test-toolchains.txt): the MSRV workflow test checks with
# a numbered toolchain while rust-toolchain.toml says nightly. rustup reuses an installed one.
grep -v '^#' "$REPO/dev/test-toolchains.txt" | while read -r toolchain _; do
    [ -n "$toolchain" ] || continue
    if ! rustup toolchain list | grep -q "^$toolchain-"; then
        say "rustup toolchain install $toolchain --profile minimal"
        rustup toolchain install "$toolchain" --profile minimal
    fi
done
