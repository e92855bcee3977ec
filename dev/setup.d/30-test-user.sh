# shellcheck shell=sh
# A second, unprivileged user for the security tests' hostile side (another user's orphan
# process, a state directory someone else owns): the tests, run as root, start it with setpriv.
# Not root: the user must exist already and the tests need root (they fail, never skip).
apt_install passwd util-linux # useradd, setpriv
BUILDKIT_TEST_USER=buildkit-test
if ! id -u "$BUILDKIT_TEST_USER" >/dev/null 2>&1; then
    if [ "$(id -u)" -ne 0 ]; then
        echo "the tests need a user $BUILDKIT_TEST_USER: run as root, or create it (useradd)" >&2
        return 1
    fi
    say "useradd $BUILDKIT_TEST_USER (no home, no login)"
    useradd --system --user-group --no-create-home --shell /usr/sbin/nologin "$BUILDKIT_TEST_USER"
fi
