# shellcheck shell=sh
# @actions/core, the version actions/github-script v8.0.0 bundles: the tests run the generated
# workflow's github-script step (cache.remote kind gha) in node with it, so the variables it
# exports reach the later steps through $GITHUB_ENV in the format the runner reads. Pinned, and
# installed from npm into .tools/ in the checkout (gitignored); reused when that version is there.
ACTIONS_CORE_VERSION=1.10.1
actions_core_prefix=$REPO/.tools/actions-core
if ! command -v npm >/dev/null 2>&1; then
    apt_install nodejs npm
fi
actions_core_found=$(node -p "require('$actions_core_prefix/node_modules/@actions/core/package.json').version" 2>/dev/null || true)
if [ "$actions_core_found" != "$ACTIONS_CORE_VERSION" ]; then
    say "npm install @actions/core@$ACTIONS_CORE_VERSION into $actions_core_prefix"
    npm install --prefix "$actions_core_prefix" --no-audit --no-fund --loglevel=error \
        "@actions/core@$ACTIONS_CORE_VERSION"
fi
