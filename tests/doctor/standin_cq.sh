#!/bin/sh
# STAND-IN FOR cq, USED ONLY BY tests/doctor WHILE THE REAL cq HAS NOT LANDED ON THIS BRANCH.
# It is not buildkit's cq: it implements just the contract `buildkit gc` relies on
# (docs/cq.md): one queue, a holder file with key=value lines (pid, pgid, started, cwd, cmd) in
# $CQ_STATE_DIR, and `cq exec CMD [ARGS...]` / `cq cargo ARGS...` run holding the queue.
set -u
dir=${CQ_STATE_DIR:?the stand-in needs CQ_STATE_DIR}
mkdir -p "$dir" && chmod 700 "$dir"
if [ "${1:-}" = exec ]; then shift; fi
exec 9>>"$dir/queue.lock"
flock 9
pgid=$(ps -o pgid= -p $$ | tr -d ' ')
printf 'pid=%s\npgid=%s\nstarted=%s\ncwd=%s\ncmd=%s\n' "$$" "$pgid" "$(date +%s)" "$PWD" "$*" \
    >"$dir/holder"
"$@"
rc=$?
rm -f "$dir/holder"
exit "$rc"
