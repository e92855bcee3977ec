#!/bin/sh
# Install everything the tests need (each dev/setup.d/*.sh step is idempotent and reuses what
# is already installed), then run the linters and the whole test suite.
. "$(dirname "$0")/lib.sh"
ensure_venv
say "installing buildkit and its test tools"
"$VENV/bin/python" -m pip install --quiet -e "$REPO[dev,machine,docker]"
PATH="$VENV/bin:$HOME/.cargo/bin:$PATH"
export PATH
for step in "$REPO"/dev/setup.d/*.sh; do
    [ -e "$step" ] || continue
    say "setup: $(basename "$step")"
    . "$step"
done
cd "$REPO"
say "ruff"
ruff check src tests
ruff format --check src tests
say "mypy"
mypy
say "pytest"
pytest "$@"
