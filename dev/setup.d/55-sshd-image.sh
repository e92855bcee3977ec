# shellcheck shell=sh
# The fleet test's hosts (tests/machine/test_fleet.py): the local base image plus Debian's
# openssh-server, so ansible reaches each container over ssh as it reaches a laptop. Built
# locally from Debian's packages (no image registry is reachable); reused when present.
BUILDKIT_TEST_SSHD_IMAGE=${BUILDKIT_TEST_SSHD_IMAGE:-buildkit-test/bookworm-sshd:1}
export BUILDKIT_TEST_SSHD_IMAGE
if ! docker image inspect "$BUILDKIT_TEST_SSHD_IMAGE" >/dev/null 2>&1; then
    say "building the local image $BUILDKIT_TEST_SSHD_IMAGE (openssh-server from Debian)"
    docker build --quiet --tag "$BUILDKIT_TEST_SSHD_IMAGE" - >/dev/null <<DOCKERFILE
FROM ${BUILDKIT_TEST_IMAGE:-buildkit-test/bookworm:1}
RUN apt-get update -qq \\
    && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \\
        openssh-server perl python3 zsh \\
    && rm -rf /var/lib/apt/lists/* /etc/ssh/ssh_host_*_key* \\
    && mkdir -p /run/sshd \\
    && printf '%s\\n' 'PermitUserEnvironment yes' 'PasswordAuthentication no' \\
        > /etc/ssh/sshd_config.d/buildkit-test.conf
DOCKERFILE
fi
