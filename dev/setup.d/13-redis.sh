# shellcheck shell=sh
# redis-server: the team cache tests (tests/cache/) start a real Redis on a private unix socket
# as the shared remote store sccache writes to and reads from (cache.remote.kind: redis).
apt_install redis-server
