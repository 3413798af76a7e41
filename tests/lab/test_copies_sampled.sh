#!/usr/bin/env bash
# -n 3 -r 50: 600 short sessions (one request each); a sampled session is copied 3 times, the
# others not at all; about half are sampled (35..65%).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/copies_lib.sh"

lab_up
start_http_servers
start_tcpcopy "${TCPCOPY_ARGS_DEFAULT[@]}" -n 3 -r 50
short_sessions 600 nr || fail "the client failed"
assert_eq "$(grep -c ' /nr/' "$ON_LOG")" 600 "sessions online"
# Which sessions are sampled is tcpcopy's hash: the goal is what tcpcopy says it created
# (each copy is one short request).
settle_to_counter "grep -c ' /nr/' $TG_LOG" sessions.created 30 >/dev/null
stop_copy sampled
read -r uris bad <<<"$(copies_of nr 3)"
log "$uris of 600 sessions sampled, $bad not copied exactly 3 times"
assert_eq "$bad" 0 "sampled sessions not copied exactly 3 times"
[ "$uris" -ge 210 ] && [ "$uris" -le 390 ] || fail "$uris of 600 sessions sampled (35..65% expected)"
stop_tc || fail "intercept did not stop cleanly"
pass "-n 3 -r 50: $uris/600 sessions x 3"
