# shellcheck shell=sh
# A real docker engine and a local Debian base image: no image registry is reachable here, so the
# image is made with debootstrap and `docker import` (DESIGN.md). Tests that use docker need both;
# a missing engine is a failure, not a skip.
apt_install docker.io debootstrap
if ! docker info >/dev/null 2>&1; then
    say "starting dockerd"
    dockerd_log=$(mktemp)
    nohup dockerd >"$dockerd_log" 2>&1 &
    tries=0
    until docker info >/dev/null 2>&1; do
        tries=$((tries + 1))
        if [ "$tries" -gt 60 ]; then
            echo "dockerd did not start; its log:" >&2
            cat "$dockerd_log" >&2
            exit 1
        fi
        sleep 1
    done
fi
BUILDKIT_TEST_IMAGE=${BUILDKIT_TEST_IMAGE:-buildkit-test/bookworm:1}
export BUILDKIT_TEST_IMAGE
if ! docker image inspect "$BUILDKIT_TEST_IMAGE" >/dev/null 2>&1; then
    say "building the local base image $BUILDKIT_TEST_IMAGE (debootstrap, about a minute)"
    rootfs=$(mktemp -d)
    debootstrap --variant=minbase \
        --include=python3,ca-certificates,git,gcc,libc6-dev,perl,procps,sudo,curl,bash,zsh \
        bookworm "$rootfs" http://deb.debian.org/debian >/dev/null
    tar -C "$rootfs" -c . | docker import - "$BUILDKIT_TEST_IMAGE" >/dev/null
    rm -rf "$rootfs"
fi
