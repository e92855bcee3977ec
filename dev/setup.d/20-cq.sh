# shellcheck shell=sh
# cq's tests run the rendered script under dash and bash and lint it with shellcheck; perl and
# mkfifo stand in for flock/setsid in the macOS simulation; ps lets cq's watchdog skip zombies.
apt_install dash bash shellcheck perl procps coreutils util-linux
# setfacl: a test gives the state directory an ACL and follows cq's hint to remove it
apt_install acl
