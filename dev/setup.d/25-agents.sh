# shellcheck shell=sh
# The agents tests: direnv loads the rendered .envrc (the shim first on PATH), make runs a
# Makefile recipe that calls cargo, perl runs the PreToolUse hook.
apt_install direnv make perl git
