#!/usr/bin/env bash
# A target slower than production: the target's eth0 sends at 20 Mbit/s (tbf), so its answers,
# and with them the pace at which tcpcopy may send the next requests, lag behind the online
# server. wrk -t1 -c10 with unique URIs online, bounded by count (TOTAL requests, about 3.3 s
# of the target's 20 Mbit/s per 10,000 answers of 831 bytes, whatever the machine's speed):
# every request must still be reproduced (within SETTLE_MAX s), and tcpcopy's resident memory
# must stay below MAX_RSS_MB (its queue of client bytes is bounded to 256 MB).
set -euo pipefail
. "$(dirname "$0")/lib.sh"

RATE=${RATE:-20mbit}
TOTAL=${TOTAL:-30000}
SETTLE_MAX=${SETTLE_MAX:-90}
MAX_RSS_MB=${MAX_RSS_MB:-300}
QUEUE_BOUND_MB=256
lab_up

# The shaper first, checked: tc must accept it and show it.
on_tgt tc qdisc add dev eth0 root tbf rate "$RATE" burst 32kbit latency 400ms ||
    fail "tbf is not available on the target's eth0"
on_tgt tc qdisc show dev eth0 | grep -q 'tbf' || fail "no tbf qdisc on the target's eth0"
log "target eth0: $(on_tgt tc qdisc show dev eth0 | firstn 1)"

start_http_copy

# tcpcopy's VmRSS (kB), every 0.5 s while it runs (bounded by count).
RSS_FILE="$LAB_DIR/rss.txt"
: >"$RSS_FILE"
(
    for ((i = 0; i < 600; i++)); do
        r=$(awk '/^VmRSS:/ { print $2 }' "/proc/$TCPCOPY_PID/status" 2>/dev/null) || break
        [ -n "$r" ] || break
        echo "$r" >>"$RSS_FILE"
        sleep 0.5
    done
) &
lab_track $!

wrk_count slow 10 "$TOTAL" "http://$IP_ONL/"
n_on=$(lines "$ON_LOG")
n_tg_end=$(lines "$TG_LOG")
log "when the load ended: online $n_on, target $n_tg_end (the target lags by $((n_on - n_tg_end)))"
assert_ge "$n_on" "$TOTAL" "requests served online"

t0=$(date +%s)
settle "lines $TG_LOG" "$SETTLE_MAX" "$n_on" >/dev/null
log "the target settled $(($(date +%s) - t0)) s after the load ended"
report "$ON_LOG" "$TG_LOG"
uri_share "$ON_LOG" "$TG_LOG" 1 '$' all
share=$SHARE hit=$SHARE_HIT total=$SHARE_N
if [ "$hit" -lt "$total" ]; then
    log "first missing URIs (of $((total - hit))): $(firstn 8 <"$LAB_DIR/missing-all.txt" | tr '\n' ' ')"
fi
on_tgt tc -s qdisc show dev eth0 | sed 's/^/  target eth0: /'
kill -0 "$TCPCOPY_PID" 2>/dev/null || fail "tcpcopy is no longer running"
max_rss=$(awk 'BEGIN { m = 0 } { if ($1 > m) m = $1 } END { print m }' "$RSS_FILE")
samples=$(lines "$RSS_FILE")
max_rss_mb=$(awk -v k="$max_rss" 'BEGIN { printf "%.1f", k / 1024 }')
log "tcpcopy VmRSS: max $max_rss_mb MB over $samples samples"
stop_tc || fail "tcpcopy or intercept did not stop cleanly"
[ "$samples" -ge 4 ] || fail "too few VmRSS samples ($samples)"
awk -v m="$max_rss" -v b="$MAX_RSS_MB" 'BEGIN { exit !(m < b * 1024) }' ||
    fail "tcpcopy's VmRSS reached $max_rss_mb MB (limit $MAX_RSS_MB MB)"
[ "$hit" -eq "$total" ] || fail "$((total - hit)) of $total requests not reproduced on the target (share $share)"
pass "all $total requests reproduced through a $RATE target; tcpcopy max VmRSS $max_rss_mb MB < $MAX_RSS_MB MB (queue bound $QUEUE_BOUND_MB MB of client bytes)"
