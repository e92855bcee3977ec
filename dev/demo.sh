#!/bin/sh
# Install buildkit into a virtualenv and run its main job on the example workspace:
# `buildkit init` on a copy of examples/hello-workspace, a build through cq, `buildkit check`.
. "$(dirname "$0")/lib.sh"
ensure_venv
say "installing buildkit (pip install .)"
"$VENV/bin/python" -m pip install --quiet "$REPO"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp -R "$REPO/examples/hello-workspace" "$work/hello-workspace"
cd "$work/hello-workspace"
say "buildkit init --yes (in a copy of examples/hello-workspace)"
"$VENV/bin/buildkit" init --yes
say "cargo build with the rendered settings"
if [ -x scripts/cq ]; then scripts/cq build; else cargo build; fi
say "buildkit check"
"$VENV/bin/buildkit" check
