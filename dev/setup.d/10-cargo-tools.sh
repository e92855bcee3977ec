# shellcheck shell=sh
# cargo-hakari: the real consumer of the hakari setup (reused from ~/.cargo/bin when present).
# Pinned in ci/pins.yaml (the one source of tool versions): the tests compare hakari's output,
# which may change between versions.
CARGO_HAKARI_VERSION=$("$VENV/bin/python" -m buildkit.pins cargo-hakari)
if ! cargo hakari --version 2>/dev/null | grep -q "cargo-hakari $CARGO_HAKARI_VERSION\$"; then
    say "cargo install --locked cargo-hakari --version $CARGO_HAKARI_VERSION (a few minutes, once)"
    cargo install --locked cargo-hakari --version "$CARGO_HAKARI_VERSION"
fi
