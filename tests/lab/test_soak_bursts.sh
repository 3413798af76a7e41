#!/usr/bin/env bash
# A soak of bursts (issue 25): ROUNDS rounds of a full-rate keep-alive burst (wrk -t1 -c20,
# BURST requests with unique URIs, bounded by count), then a short-connection burst (ab -n
# 3000 -c 20, no keep-alive, one URI per round), then 4 s idle. The copy lags behind the
# online server during each burst (they share the machine) and the clients reuse ports
# meanwhile: every request of every round must still reach the target (unique URIs as a set,
# ab's as a count per round), nothing may be counted lost, and tcpcopy's memory must be
# flat after the first rounds: its VmRSS after the last round within RSS_GROWTH_PCT (20%)
# plus 4 MB of its VmRSS after round 2 (the queues fill to the bursts' size by then).
set -euo pipefail
TC_LAB_TIMEOUT=${TC_LAB_TIMEOUT:-280}
. "$(dirname "$0")/lib.sh"

ROUNDS=${ROUNDS:-8}
BURST=${BURST:-30000}
N_AB=${N_AB:-3000}
RSS_GROWTH_PCT=${RSS_GROWTH_PCT:-20}
lab_up
client_ports_wide() { on_cli sysctl -qw net.ipv4.ip_local_port_range="1024 65000"; }
client_ports_wide
start_http_copy

RSS=()
for ((r = 1; r <= ROUNDS; r++)); do
    wrk_count "b$r" 20 "$BURST" "http://$IP_ONL/"
    on_cli timeout 120 ab -q -n "$N_AB" -c 20 "http://$IP_ONL/ab$r/x" >"$LAB_DIR/ab$r.out" 2>&1 ||
        fail "round $r: ab failed: $(tail -n 3 "$LAB_DIR/ab$r.out")"
    lag=$(($(lines "$ON_LOG") - $(lines "$TG_LOG")))
    sleep 4
    kill -0 "$TCPCOPY_PID" 2>/dev/null || fail "tcpcopy died in round $r"
    RSS[r]=$(proc_rss_kb "$TCPCOPY_PID")
    log "round $r: online $(lines "$ON_LOG"), target $(lines "$TG_LOG") (the copy lagged by $lag after the bursts), tcpcopy VmRSS ${RSS[r]} kB"
done
n_on=$(lines "$ON_LOG")
settle "lines $TG_LOG" 120 "$n_on" >/dev/null
report "$ON_LOG" "$TG_LOG"
stop_tc || fail "tcpcopy or intercept did not stop cleanly"
# Unique wrk URIs as a set; ab's per round as a count (one URI each).
grep -v ' /ab[0-9]*/x ' "$ON_LOG" >"$LAB_DIR/on-wrk.log" || true
grep -v ' /ab[0-9]*/x ' "$TG_LOG" >"$LAB_DIR/tg-wrk.log" || true
uri_share "$LAB_DIR/on-wrk.log" "$LAB_DIR/tg-wrk.log" 1 '$' wrk
[ "$SHARE_HIT" -eq "$SHARE_N" ] ||
    fail "$((SHARE_N - SHARE_HIT)) of $SHARE_N keep-alive requests not reproduced, e.g. $(firstn 5 <"$LAB_DIR/missing-wrk.txt" | tr '\n' ' ')"
for ((r = 1; r <= ROUNDS; r++)); do
    on=$(grep -c " /ab$r/x " "$ON_LOG" || true) tg=$(grep -c " /ab$r/x " "$TG_LOG" || true)
    assert_eq "$tg" "$on" "round $r: short-connection requests on the target"
done
assert_eq "$N_TARGET" "$N_ONLINE" "requests on the target in all"
assert_eq "$(tc_lost_at_end)" 0 "requests not replayed at session end"
overlapped=$(tc_stat sessions.events.port_reused)
max=$((RSS[2] + RSS[2] * RSS_GROWTH_PCT / 100 + 4096))
[ "${RSS[ROUNDS]}" -le "$max" ] ||
    fail "tcpcopy's VmRSS grew from ${RSS[2]} kB (round 2) to ${RSS[ROUNDS]} kB (round $ROUNDS), over $max kB"
pass "$ROUNDS rounds, $N_TARGET/$N_ONLINE requests reproduced ($SHARE_HIT/$SHARE_N keep-alive, $((ROUNDS * N_AB)) short); ports reused while replaying $overlapped; tcpcopy VmRSS ${RSS[2]} -> ${RSS[ROUNDS]} kB"
