#!/usr/bin/env bash
# tcpcopy started late: 50 keep-alive connections (wrk -t1 -c50 for 10 s, unique URIs, paced by
# 2 ms of think time: at most 25,000 requests a second on any machine) are already busy when tcpcopy starts, 2 s into the load. Sessions first seen mid-stream are
# copied from their next request boundary, so of the requests the production server logged
# after tcpcopy was running, at least MIN_SHARE must be reproduced on the target (URI sets).
set -euo pipefail
. "$(dirname "$0")/lib.sh"

MIN_SHARE=${MIN_SHARE:-0.99}
lab_up
start_http_servers

log "tcpcopy starts 2 s into the load"
wrk_count_bg late 50 1000000 "http://$IP_ONL/" 10 2
sleep 2
n_launch=$(lines "$ON_LOG")
start_tcpcopy
# start_tcpcopy returns once tcpcopy is connected to intercept and has run for 0.5 s: from
# here on every request the server logs was captured from its first byte.
n_ready=$(lines "$ON_LOG")
log "online log lines: $n_launch when tcpcopy was launched, $n_ready when it was running"
kill -0 "$WRK_PID" 2>/dev/null || fail "wrk ended before tcpcopy was running (see $LAB_DIR/wrk-late.out)"
wrk_count_wait late

n_on=$(lines "$ON_LOG")
assert_ge "$((n_on - n_ready))" 10000 "requests served online after tcpcopy started"
settle "lines $TG_LOG" 30 "$n_on" >/dev/null
report "$ON_LOG" "$TG_LOG"
uri_share "$ON_LOG" "$TG_LOG" 1 "$n_launch" before
uri_share "$ON_LOG" "$TG_LOG" $((n_launch + 1)) "$n_ready" starting
uri_share "$ON_LOG" "$TG_LOG" $((n_ready + 1)) '$' after
after_share=$SHARE after_n=$SHARE_N after_hit=$SHARE_HIT
dups=$(awk '{ print $4 }' "$TG_LOG" | LC_ALL=C sort | uniq -d | wc -l)
log "URIs logged more than once on the target: $dups"
if [ "$after_hit" -lt "$after_n" ]; then
    log "first missing URIs (of $((after_n - after_hit))): $(firstn 8 <"$LAB_DIR/missing-after.txt" | tr '\n' ' ')"
fi
stop_tc || fail "tcpcopy or intercept did not stop cleanly"
[ "$dups" -eq 0 ] || fail "$dups URIs reproduced more than once on the target"
assert_ge "$after_share" "$MIN_SHARE" "share of requests after tcpcopy started reproduced"
pass "$after_hit of $after_n requests logged online after tcpcopy started are on the target (share $after_share >= $MIN_SHARE)"
