# shellcheck shell=sh
# @devcontainers/cli: the real consumer of the generated devcontainer and the Feature. Pinned, and
# installed from npm into .tools/ in the checkout (gitignored); reused when that version is there.
DEVCONTAINER_CLI_VERSION=0.89.0
devcontainer_prefix=$REPO/.tools/devcontainer-cli
devcontainer_bin=$devcontainer_prefix/node_modules/.bin/devcontainer
if ! command -v npm >/dev/null 2>&1; then
    apt_install nodejs npm
fi
node_major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
if [ "$node_major" -lt 20 ]; then
    echo "@devcontainers/cli $DEVCONTAINER_CLI_VERSION needs Node.js 20 or newer (found: $(node --version 2>/dev/null || echo none))" >&2
    exit 1
fi
if [ "$("$devcontainer_bin" --version 2>/dev/null)" != "$DEVCONTAINER_CLI_VERSION" ]; then
    say "npm install @devcontainers/cli@$DEVCONTAINER_CLI_VERSION into $devcontainer_prefix"
    npm install --prefix "$devcontainer_prefix" --no-audit --no-fund --loglevel=error \
        "@devcontainers/cli@$DEVCONTAINER_CLI_VERSION"
fi
