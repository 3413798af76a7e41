#!/usr/bin/env bash
# wrk -t1 -c10 against the production server, TOTAL requests (bounded by count: the same load
# on a fast or a slow machine): at least 99.9% of them must be reproduced on the target.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

MIN_RATIO=${MIN_RATIO:-0.999}
TOTAL=${TOTAL:-40000}
lab_up
start_http_copy

wrk_count w 10 "$TOTAL" "http://$IP_ONL/"
n=$(lines "$ON_LOG")
assert_ge "$n" "$TOTAL" "requests served online"

settle "lines $TG_LOG" 60 "$n" >/dev/null
report "$ON_LOG" "$TG_LOG"
stop_tc || fail "tcpcopy or intercept did not stop cleanly"
assert_ge "$RATIO" "$MIN_RATIO" "reproduction ratio"
pass "ratio $RATIO ($N_TARGET/$N_ONLINE)"
