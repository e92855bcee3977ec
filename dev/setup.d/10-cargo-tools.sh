# shellcheck shell=sh
# cargo-hakari: the real consumer of the hakari setup (reused from ~/.cargo/bin when present).
if ! cargo hakari --version >/dev/null 2>&1; then
    say "cargo install --locked cargo-hakari (a few minutes, once)"
    cargo install --locked cargo-hakari
fi
