# Shared by dev/demo.sh and dev/test.sh: a project virtualenv and helpers. POSIX sh.
# shellcheck shell=sh
set -eu
REPO=$(cd "$(dirname "$0")/.." && pwd)
VENV=${BUILDKIT_VENV:-$REPO/.venv}

say() { printf '==> %s\n' "$*"; }

ensure_venv() {
    if [ ! -x "$VENV/bin/python" ]; then
        say "creating a virtualenv in $VENV"
        python3 -m venv "$VENV"
    fi
    "$VENV/bin/python" -m pip install --quiet --upgrade pip
}

# apt_install PKG...: install the Debian packages that are missing (apt-get update once).
apt_install() {
    missing=""
    for pkg in "$@"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" \
            || missing="$missing $pkg"
    done
    [ -n "$missing" ] || return 0
    if [ "$(id -u)" -ne 0 ]; then
        echo "missing Debian packages:$missing (install them, or run as root)" >&2
        return 1
    fi
    if [ -z "${BUILDKIT_APT_UPDATED:-}" ]; then
        apt-get update -qq
        BUILDKIT_APT_UPDATED=1
    fi
    # shellcheck disable=SC2086 # word splitting of the package list is intended
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null
}
