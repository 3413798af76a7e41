#!/usr/bin/env bash
# wrk -t1 -c10 -d5s against the production server: at least 99.9% of its requests must be
# reproduced on the target.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

MIN_RATIO=${MIN_RATIO:-0.999}
lab_up
start_http_copy

log "wrk -t1 -c10 -d5s"
on_cli timeout 30 wrk -t1 -c10 -d5s --timeout 5s "http://$IP_ONL/" | sed 's/^/  /'
n=$(lines "$ON_LOG")
assert_ge "$n" 1000 "requests served online"

settle "lines $TG_LOG" 20 >/dev/null
report "$ON_LOG" "$TG_LOG"
stop_tc || fail "tcpcopy or intercept did not stop cleanly"
assert_ge "$RATIO" "$MIN_RATIO" "reproduction ratio"
pass "ratio $RATIO ($N_TARGET/$N_ONLINE)"
