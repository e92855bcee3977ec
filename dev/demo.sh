#!/bin/sh
# Install buildkit into a virtualenv and run its main job on the example workspace:
# `buildkit init` on a copy of examples/hello-workspace, a build and a test through cq,
# `buildkit check`, and `buildkit doctor` measuring the target dir.
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
say "scripts/cq build && scripts/cq test (the build queue, with the rendered settings)"
scripts/cq build
scripts/cq test
say "buildkit check"
"$VENV/bin/buildkit" check
say "buildkit doctor"
"$VENV/bin/buildkit" doctor
