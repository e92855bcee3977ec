#!/bin/sh
# buildkit's Dev Container Feature: installs cq, cargo-hakari and the cargo settings into an
# image. Runs as root at image build time; the options arrive as environment variables.
set -eu

INSTALLCQ=${INSTALLCQ:-true}
INSTALLHAKARI=${INSTALLHAKARI:-false}
HAKARIVERSION=${HAKARIVERSION:-}
DEPENDENCYDEBUG=${DEPENDENCYDEBUG:-}
JOBS=${JOBS:-}
INCREMENTAL=${INCREMENTAL:-}
REMOTE_USER=${_REMOTE_USER:-root}
REMOTE_HOME=${_REMOTE_USER_HOME:-/root}
HERE=$(cd "$(dirname "$0")" && pwd)
MARK="# written by buildkit's Dev Container Feature"

say() { printf 'buildkit feature: %s\n' "$*"; }
fail() {
    printf 'buildkit feature: %s\n' "$*" >&2
    exit 1
}

if [ "$INSTALLCQ" = true ]; then
    [ -f "$HERE/cq" ] || fail "installCq: this Feature carries no cq (cq.enabled is false in buildkit.yaml)"
    install -m 0755 "$HERE/cq" /usr/local/bin/cq
    say "installed cq as /usr/local/bin/cq"
fi

if [ "$INSTALLHAKARI" = true ]; then
    case $HAKARIVERSION in
        '' | *[!0-9.]*) fail "hakariVersion must be a version such as 1.2.3, not '$HAKARIVERSION'" ;;
    esac
    if command -v cargo-hakari >/dev/null 2>&1; then
        say "cargo-hakari is already installed"
    elif ! command -v cargo >/dev/null 2>&1; then
        fail "installHakari needs cargo in the image: add the rust Feature or a Rust base image, or set installHakari to false"
    else
        # A throwaway CARGO_HOME: the image's own cargo home stays as it was.
        scratch=$(mktemp -d)
        CARGO_HOME="$scratch" cargo install --locked --root /usr/local "cargo-hakari@$HAKARIVERSION"
        rm -rf "$scratch"
        say "installed cargo-hakari $HAKARIVERSION into /usr/local/bin"
    fi
fi

# Cargo settings go into the cargo home's config.toml: the user's, for every workspace.
settings=""
add() {
    settings="$settings$1
"
}
case $JOBS in
    '') ;;
    *[!0-9]* | 0) fail "jobs must be a positive number or empty, not '$JOBS'" ;;
    *) add "build.jobs = $JOBS" ;;
esac
case $INCREMENTAL in
    '') ;;
    true | false) add "build.incremental = $INCREMENTAL" ;;
    *) fail "incremental must be true, false or empty, not '$INCREMENTAL'" ;;
esac
case $DEPENDENCYDEBUG in
    '') ;;
    true | false) add "profile.dev.package.\"*\".debug = $DEPENDENCYDEBUG" ;;
    none | line-directives-only | line-tables-only | limited | full)
        add "profile.dev.package.\"*\".debug = \"$DEPENDENCYDEBUG\""
        ;;
    *) fail "dependencyDebug must be one of cargo's debug levels or empty, not '$DEPENDENCYDEBUG'" ;;
esac
if [ -n "$settings" ]; then
    cargo_home=${CARGO_HOME:-$REMOTE_HOME/.cargo}
    config=$cargo_home/config.toml
    if [ -e "$config" ] && ! head -n 1 "$config" | grep -qF "$MARK"; then
        say "$config exists and is not ours: left as it is; add these settings yourself:"
        printf '%s' "$settings"
    else
        if [ ! -d "$cargo_home" ]; then
            mkdir -p "$cargo_home"
            [ -n "${CARGO_HOME:-}" ] || chown "$REMOTE_USER:" "$cargo_home"
        fi
        {
            printf '%s; remove this file or rebuild the container to change it\n' "$MARK"
            printf '%s' "$settings"
        } >"$config"
        chmod 0644 "$config"
        say "wrote the cargo settings to $config"
    fi
fi

# A new named volume takes the owner of the directory it is mounted over: make that the user.
if [ -n "${CARGO_TARGET_DIR:-}" ]; then
    mkdir -p "$CARGO_TARGET_DIR"
    chown "$REMOTE_USER:" "$CARGO_TARGET_DIR"
    say "CARGO_TARGET_DIR $CARGO_TARGET_DIR belongs to $REMOTE_USER"
fi
