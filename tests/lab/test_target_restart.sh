#!/usr/bin/env bash
# The target restarts under load: wrk -t1 -c20 for 10 s with unique URIs online, paced (1 ms
# think time: at most 20,000 requests a second on any machine); at t=4 s the
# target's nginx is killed (SIGKILL, by PID: master and workers), at t=5 s it is started again
# with the same configuration. tcpcopy and intercept must survive, tcpcopy must report the
# affected sessions (target resets / rebuilt sessions), and of the requests the production
# server logged from t=6 s on at least MIN_SHARE must be reproduced on the target.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

MIN_SHARE=${MIN_SHARE:-0.99}
lab_up
start_http_copy
TG_DIR=$(dirname "$TG_LOG")
TG_NGINX_PID=$(cat "$TG_DIR/nginx.pid")

# sleep_until T0 SECS: sleep until SECS seconds after T0 (date +%s.%N).
sleep_until() {
    local d
    d=$(awk -v t0="$1" -v s="$2" -v now="$(date +%s.%N)" 'BEGIN { d = t0 + s - now; print (d > 0 ? d : 0) }')
    sleep "$d"
}

log "target nginx killed at t=4 s, restarted at t=5 s"
T0=$(date +%s.%N)
wrk_count_bg rs 20 1000000 "http://$IP_ONL/" 10 1

sleep_until "$T0" 4
workers=$(cat "/proc/$TG_NGINX_PID/task/$TG_NGINX_PID/children" 2>/dev/null || true)
n_kill=$(lines "$ON_LOG") t_kill_tg=$(lines "$TG_LOG")
kill -KILL "$TG_NGINX_PID"
for w in $workers; do kill -KILL "$w" 2>/dev/null || true; done
wait_until "! listening $NS_TGT 8080" 5 || fail "the target's nginx still listens after SIGKILL"
log "t=4: target nginx killed (master $TG_NGINX_PID, workers $workers); online log $n_kill lines, target $t_kill_tg"

sleep_until "$T0" 5
on_tgt /usr/sbin/nginx -p "$TG_DIR" -e "$TG_DIR/error.log" -c "$TG_DIR/nginx.conf" \
    >>"$TG_DIR/stdout.log" 2>&1 &
TG_NGINX_PID=$!
lab_track "$TG_NGINX_PID"
wait_until "listening $NS_TGT 8080" 5 || fail "the target's nginx did not listen again"
n_restart=$(lines "$ON_LOG")
log "t=5: target nginx restarted (pid $TG_NGINX_PID); online log $n_restart lines"

sleep_until "$T0" 6
n_after=$(lines "$ON_LOG")
log "t=6: online log $n_after lines"
wrk_count_wait rs
n_on=$(lines "$ON_LOG")
assert_ge "$((n_on - n_after))" 5000 "requests served online after t=6 s"

settle "lines $TG_LOG" 30 "$n_on" >/dev/null
report "$ON_LOG" "$TG_LOG"
uri_share "$ON_LOG" "$TG_LOG" 1 "$n_kill" before
before_share=$SHARE
uri_share "$ON_LOG" "$TG_LOG" $((n_kill + 1)) "$n_after" during
during_share=$SHARE
uri_share "$ON_LOG" "$TG_LOG" $((n_after + 1)) '$' after
after_share=$SHARE after_n=$SHARE_N after_hit=$SHARE_HIT
if [ "$after_hit" -lt "$after_n" ]; then
    log "first missing URIs after t=6 (of $((after_n - after_hit))): $(firstn 8 <"$LAB_DIR/missing-after.txt" | tr '\n' ' ')"
    # Per wrk connection (URIs carry no connection, so by the client port the online log saw).
    awk 'NR == FNR { m[$1] = 1; next } ($4 in m) { print $2 }' "$LAB_DIR/missing-after.txt" "$ON_LOG" |
        sort | uniq -c | sort -rn | firstn 5 | sed 's/^/  missing after t=6 by client port: /'
fi

tc_alive=0 ic_alive=0
kill -0 "$TCPCOPY_PID" 2>/dev/null && tc_alive=1
kill -0 "$INTERCEPT_PID" 2>/dev/null && ic_alive=1
assert_eq "$tc_alive" 1 "tcpcopy running at the end"
assert_eq "$ic_alive" 1 "intercept running at the end"
stop_tc || fail "tcpcopy or intercept did not stop cleanly"
rebuilt=$(tc_stat sessions.events.rebuilt) treset=$(tc_stat sessions.outcome.target_reset)
tclosed=$(tc_stat sessions.outcome.target_closed_early) trefused=$(tc_stat sessions.outcome.target_refused)
log "tcpcopy: rebuilt $rebuilt, target_reset $treset, target_closed_early $tclosed, target_refused $trefused"
{ grep -E 'warning|error' "$TCPCOPY_LOG" || true; } | firstn 10 | sed 's/^/  tcpcopy: /'
[ $((rebuilt + treset)) -gt 0 ] || fail "tcpcopy's log shows neither rebuilt sessions nor target resets"
assert_ge "$after_share" "$MIN_SHARE" "share of requests from t=6 s reproduced"
pass "from t=6 s $after_hit of $after_n requests reproduced (share $after_share >= $MIN_SHARE; before t=4 $before_share, t=4-6 $during_share); tcpcopy: rebuilt $rebuilt, target_reset $treset, target_refused $trefused"
