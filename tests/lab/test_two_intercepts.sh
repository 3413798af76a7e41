#!/usr/bin/env bash
# One tcpcopy, two intercepts (issue 5): losing one does not stop copying through the other.
# The target routes the fake clients' replies to one next hop (assist), so the two intercepts
# both see them from different places: #1 on assist (192.0.2.30, -i eth0, as usual), #2 on the
# target itself (192.0.2.20, -i eth0 -F 'tcp and src port 8080': the replies as they leave).
# tcpcopy -s 192.0.2.30,192.0.2.20 registers every session with both (and so gets each reply
# twice). Under wrk -t1 -c10 for 8 s (unique URIs, paced by 1 ms of think time), at t=3 s one intercept is killed (SIGKILL, by
# PID; KILL=ast, the default, or KILL=tgt). Asserts: tcpcopy keeps running and 100% of the
# requests the production server logged from the kill + 1 s on are reproduced; the survivor
# forwarded replies after the kill.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

KILL=${KILL:-ast}
MIN_SHARE=${MIN_SHARE:-1}
case $KILL in ast | tgt) ;; *) echo "KILL must be ast or tgt" >&2; exit 2 ;; esac
lab_up
start_nginx "$NS_ONL" 80 online
ON_LOG=$NGINX_LOG
start_nginx "$NS_TGT" 8080 target
TG_LOG=$NGINX_LOG

INTERCEPT_NAME=intercept-ast start_intercept -i eth0 -F 'tcp and src port 8080'
ICPT_AST_PID=$INTERCEPT_PID ICPT_AST_LOG=$INTERCEPT_LOG
NS_INTERCEPT=$NS_TGT INTERCEPT_NAME=intercept-tgt start_intercept -i eth0 -F 'tcp and src port 8080'
ICPT_TGT_PID=$INTERCEPT_PID ICPT_TGT_LOG=$INTERCEPT_LOG
INTERCEPT_PID=""
start_tcpcopy -x "80-$IP_TGT:8080" -s "$IP_AST,$IP_TGT" -c 203.0.113.x
for f in "$ICPT_AST_LOG" "$ICPT_TGT_LOG"; do
    wait_until "grep -q 'tcpcopy connected' $f" 5 || fail "tcpcopy did not connect to $(basename "$f" .log)"
done

# A first check with both up: 20 curls.
on_cli timeout 30 bash -c 'for i in $(seq 1 20); do
    curl -s -m 5 -o /dev/null "http://'"$IP_ONL"'/both/$i" || echo "curl $i failed" >&2; done'
settle "lines $TG_LOG" 20 20 >/dev/null
assert_eq "$(lines "$TG_LOG")" 20 "requests reproduced with both intercepts up"

sleep_until() {
    local d
    d=$(awk -v t0="$1" -v s="$2" -v now="$(date +%s.%N)" 'BEGIN { d = t0 + s - now; print (d > 0 ? d : 0) }')
    sleep "$d"
}

if [ "$KILL" = ast ]; then
    VICTIM=$ICPT_AST_PID VICTIM_NS=$NS_AST SURV_PID=$ICPT_TGT_PID SURV_LOG=$ICPT_TGT_LOG VNAME="intercept on assist"
    SNAME="intercept on target"
else
    VICTIM=$ICPT_TGT_PID VICTIM_NS=$NS_TGT SURV_PID=$ICPT_AST_PID SURV_LOG=$ICPT_AST_LOG VNAME="intercept on target"
    SNAME="intercept on assist"
fi
log "$VNAME killed at t=3 s"
T0=$(date +%s.%N)
wrk_count_bg ti 10 1000000 "http://$IP_ONL/" 8 1

sleep_until "$T0" 3
n_kill=$(lines "$ON_LOG")
kill -KILL "$VICTIM"
wait "$VICTIM" 2>/dev/null || true
wait_until "! listening $VICTIM_NS $CHAN_PORT" 5 || fail "$VNAME still listens after SIGKILL"
log "t=3: $VNAME killed (pid $VICTIM); online log $n_kill lines"
sleep_until "$T0" 4
n_after=$(lines "$ON_LOG")
log "t=4: online log $n_after lines"
wrk_count_wait ti
n_on=$(lines "$ON_LOG")
assert_ge "$((n_on - n_after))" 1000 "requests served online after the kill + 1 s"

settle "lines $TG_LOG" 30 "$n_on" >/dev/null
report "$ON_LOG" "$TG_LOG"
uri_share "$ON_LOG" "$TG_LOG" 1 "$n_kill" before
before_share=$SHARE
uri_share "$ON_LOG" "$TG_LOG" $((n_kill + 1)) "$n_after" kill-1s
gap_share=$SHARE
uri_share "$ON_LOG" "$TG_LOG" $((n_after + 1)) '$' after
after_share=$SHARE after_n=$SHARE_N after_hit=$SHARE_HIT
if [ "$after_hit" -lt "$after_n" ]; then
    log "first missing URIs after the kill + 1 s: $(firstn 8 <"$LAB_DIR/missing-after.txt" | tr '\n' ' ')"
fi

tc_alive=0 sv_alive=0
kill -0 "$TCPCOPY_PID" 2>/dev/null && tc_alive=1
kill -0 "$SURV_PID" 2>/dev/null && sv_alive=1
assert_eq "$tc_alive" 1 "tcpcopy running at the end"
assert_eq "$sv_alive" 1 "$SNAME running at the end"
bad=0
_tc_stop_one "$TCPCOPY_PID" tcpcopy "$TCPCOPY_LOG" || bad=1
TCPCOPY_PID=""
_tc_stop_one "$SURV_PID" "$SNAME" "$SURV_LOG" || bad=1
[ "$bad" -eq 0 ] || fail "tcpcopy or the surviving intercept did not stop cleanly"
fwd=$(grep 'stats:' "$SURV_LOG" | tail -n 1 | grep -oE 'forwarded [0-9]+' | grep -oE '[0-9]+' || echo 0)
assert_ge "$fwd" "$after_n" "replies the $SNAME forwarded (at least one per request after the kill)"
replies=$(tc_stat replies.packets) nosess=$(tc_stat replies.no_session)
MSG="killed the $VNAME: from kill+1 s $after_hit/$after_n reproduced (share $after_share); before the kill $before_share, first second after it $gap_share; $SNAME forwarded $fwd; tcpcopy replies $replies (no session $nosess)"
log "$MSG"
assert_ge "$after_share" "$MIN_SHARE" "share of requests from the kill + 1 s reproduced"
pass "$MSG"
