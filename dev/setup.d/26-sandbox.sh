# shellcheck shell=sh
# bubblewrap: the agents tests run `cargo test` in a sandbox that lets it write only where the
# rendered Claude Code settings allow (as Claude Code's own sandbox does on Linux).
apt_install bubblewrap
