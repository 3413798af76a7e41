#!/usr/bin/env bash
# Faults between online and target, one lab, four phases in a row, each with a short paced
# wrk load (-t1 -c10, a unique URI per request) and its own tcpcopy (so that each phase's
# "final:" counters are its own); intercept runs through all of them.
#   a  link down: the router's bridge port toward the target is down for 2 s in the middle of
#      the load; requests served from link-up + 2 s on must all be reproduced.
#   b  5% loss on both paths (nft in the target: copies in, answers out): every request of the
#      phase must be reproduced (loss, not an outage).
#   c  a target that accepts and never answers: the target's nginx is stopped (SIGSTOP,
#      master and worker) for the whole load, and continued (SIGCONT) after it.
#   d  a target that resets every connection: nft in the target resets the fake clients'
#      packets to 8080, first all of them (SYNs refused), then all but the SYNs (accepted,
#      then reset at the first request).
# In every phase: tcpcopy and intercept stay up, tcpcopy's VmRSS stays below MAX_RSS_MB,
# N_REC fresh curl requests after the fault is removed are all reproduced, and tcpcopy's
# final counters show the fault (retransmissions, answers given up, refused SYNs, resets).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/impair.sh"

MAX_RSS_MB=${MAX_RSS_MB:-100}
N_REC=${N_REC:-5}
DELAY_MS=${DELAY_MS:-10}     # wrk's pause before each request (keeps replays short under faults)
lab_up
start_nginx "$NS_ONL" 80 online
ON_LOG=$NGINX_LOG
start_nginx "$NS_TGT" 8080 target
TG_LOG=$NGINX_LOG
TG_DIR=$(dirname "$TG_LOG")
start_intercept

RSS_MAX_KB=0
SUMMARY=()

# sleep_until T0 SECS: sleep until SECS seconds after T0 (date +%s.%N).
sleep_until() {
    local d
    d=$(awk -v t0="$1" -v s="$2" -v now="$(date +%s.%N)" 'BEGIN { d = t0 + s - now; print (d > 0 ? d : 0) }')
    sleep "$d"
}

# alive_check WHAT: tcpcopy and intercept still run; record tcpcopy's VmRSS (bounded).
alive_check() {
    local rss
    kill -0 "$TCPCOPY_PID" 2>/dev/null || fail "$1: tcpcopy is not running"
    kill -0 "$INTERCEPT_PID" 2>/dev/null || fail "$1: intercept is not running"
    rss=$(proc_rss_kb "$TCPCOPY_PID")
    [ "$rss" -gt "$RSS_MAX_KB" ] && RSS_MAX_KB=$rss
    log "$1: tcpcopy and intercept running; tcpcopy VmRSS $((rss / 1024)) MB, intercept $(($(proc_rss_kb "$INTERCEPT_PID") / 1024)) MB"
    [ "$rss" -lt $((MAX_RSS_MB * 1024)) ] || fail "$1: tcpcopy VmRSS $((rss / 1024)) MB >= $MAX_RSS_MB MB"
}

# load_start PHASE SECS: paced wrk in the background (WRK_PID); PH_FROM: first online log line.
load_start() {
    wrk_uri_script "$LAB_DIR/$1.lua" "f$1"
    wrk_delay "$LAB_DIR/$1.lua" "$DELAY_MS"
    PH_FROM=$(($(lines "$ON_LOG") + 1))
    ip netns exec "$NS_CLI" timeout $(($2 + 20)) wrk -t1 -c10 -d"${2}s" --timeout 5s -s "$LAB_DIR/$1.lua" \
        "http://$IP_ONL/" >"$LAB_DIR/wrk-$1.out" 2>&1 &
    WRK_PID=$!
    lab_track "$WRK_PID"
}

# settle_phase PHASE MAX: until the target has every request of the phase, or its count of
# them stood still for 5 s (a replay waiting out a retransmission timeout is not finished).
settle_phase() {
    settle "grep -c ' /f$1/' $TG_LOG" "$2" "$((PH_TO - PH_FROM + 1))" 5 >/dev/null
}

load_wait() {
    wait "$WRK_PID" || fail "$1: wrk failed: $(tail -n 3 "$LAB_DIR/wrk-$1.out")"
    PH_TO=$(lines "$ON_LOG")
    log "$1: wrk: $(grep -E 'requests in' "$LAB_DIR/wrk-$1.out" | sed 's/^ *//')"
    assert_ge $((PH_TO - PH_FROM + 1)) 200 "$1: requests served online"
}

# recover PHASE: N_REC new curl connections after the fault is gone; all must be reproduced.
recover() {
    local i n
    for ((i = 1; i <= N_REC; i++)); do
        on_cli curl -s -o /dev/null --max-time 5 "http://$IP_ONL/rec-$1/$i" || fail "$1: curl $i failed"
    done
    wait_until "[ \$(grep -c ' /rec-$1/' $TG_LOG) -ge $N_REC ]" 20 || true
    n=$(grep -c " /rec-$1/" "$TG_LOG" || true)
    assert_eq "$n" "$N_REC" "$1: requests after the fault reproduced"
}

# stop_copy PHASE: stop tcpcopy (SIGTERM), show its final counters and its first warnings.
stop_copy() {
    _tc_stop_one "$TCPCOPY_PID" tcpcopy "$TCPCOPY_LOG" || fail "$1: tcpcopy did not stop cleanly"
    TCPCOPY_PID=""
    local w
    w=$(grep -c 'session .* bytes unsent' "$TCPCOPY_LOG" || true)
    log "$1: $w sessions still held data at exit"
    grep 'session .* bytes unsent' "$TCPCOPY_LOG" | firstn 3 | sed 's/^/  /' || true
}



# ---- a: link down 2 s ----------------------------------------------------------------------
TCPCOPY_NAME=tcpcopy-a start_tcpcopy
load_start a 6
T0=$(date +%s.%N)
sleep_until "$T0" 1.5
on_rtr ip link set tgt0 down
log "a: t=1.5 s: the router's port toward the target is down"
sleep_until "$T0" 3.5
alive_check "a (link down)"
on_rtr ip link set tgt0 up
log "a: t=3.5 s: link up"
sleep_until "$T0" 5.5
MARK=$(lines "$ON_LOG")
load_wait a
settle_phase a 20
alive_check a
uri_share "$ON_LOG" "$TG_LOG" "$PH_FROM" "$PH_TO" a-all
a_all="$SHARE_HIT/$SHARE_N ($SHARE)"
uri_share "$ON_LOG" "$TG_LOG" $((MARK + 1)) "$PH_TO" a-after
a_after=$SHARE a_after_n=$SHARE_N
recover a
stop_copy a
a_rto=$(tc_stat target.retransmissions.timeout) a_rtx=$(tc_stat target.retransmitted_packets)
log "a: retransmitted $a_rtx (timeouts $a_rto)"
assert_ge "$a_after_n" 50 "a: requests from link-up + 2 s"
assert_eq "$a_after" 1.0000 "a: share of requests from link-up + 2 s reproduced"
assert_ge "$a_rto" 1 "a: retransmission timeouts counted"
SUMMARY+=("a: all $a_all, after link-up+2s $a_after of $a_after_n, rto $a_rto")

# ---- b: 5% loss on both paths --------------------------------------------------------------
nft_loss_copy 50
nft_loss_reply 50
TCPCOPY_NAME=tcpcopy-b start_tcpcopy
load_start b 3
sleep 1.5
alive_check "b (loss)"
load_wait b
settle_phase b 25
alive_check b
nft_report
uri_share "$ON_LOG" "$TG_LOG" "$PH_FROM" "$PH_TO" b
b_share=$SHARE b_hit=$SHARE_HIT b_n=$SHARE_N
b_drop="copy $(nft_dropped tclab_loss_copy), reply $(nft_dropped tclab_loss_reply)"
nft_clear tclab_loss_copy
nft_clear tclab_loss_reply
recover b
stop_copy b
b_rtx=$(tc_stat target.retransmitted_packets)
log "b: retransmitted $b_rtx"
assert_eq "$b_share" 1.0000 "b: share of requests reproduced under 5% loss"
assert_ge "$b_rtx" 1 "b: retransmissions counted"
SUMMARY+=("b: $b_hit/$b_n, nft dropped $b_drop, retransmitted $b_rtx")

# ---- c: a target that accepts and never answers --------------------------------------------
TG_NGINX_PID=$(cat "$TG_DIR/nginx.pid")
TG_WORKERS=$(cat "/proc/$TG_NGINX_PID/task/$TG_NGINX_PID/children" 2>/dev/null || true)
TCPCOPY_NAME=tcpcopy-c start_tcpcopy
# shellcheck disable=SC2086
kill -STOP "$TG_NGINX_PID" $TG_WORKERS
log "c: target nginx stopped (SIGSTOP: $TG_NGINX_PID $TG_WORKERS)"
load_start c 4
sleep 2
alive_check "c (target silent)"
load_wait c
sleep 1
alive_check "c (target silent, after the load)"
c_queued=$(on_tgt ss -Htn state established '( sport = :8080 )' | wc -l)
log "c: $c_queued connections established at the silent target"
# shellcheck disable=SC2086
kill -CONT "$TG_NGINX_PID" $TG_WORKERS
log "c: target nginx continued (SIGCONT)"
settle_phase c 25
alive_check c
uri_share "$ON_LOG" "$TG_LOG" "$PH_FROM" "$PH_TO" c
c_all="$SHARE_HIT/$SHARE_N ($SHARE)"
recover c
stop_copy c
c_gto=$(tc_stat requests.answer_by.timeout)
log "c: answers waited for in vain (given up after the answer timeout): $c_gto"
assert_ge "$c_queued" 1 "c: connections accepted by the silent target"
assert_ge "$c_gto" 1 "c: answers given up by timeout counted"
SUMMARY+=("c: reproduced after SIGCONT $c_all, answers by timeout $c_gto")

# ---- d: a target that resets every connection ----------------------------------------------
# d_rule MATCH: (re)make the reset table with one counted rule.
d_rule() {
    on_tgt nft delete table inet tclab_rst 2>/dev/null || true
    on_tgt nft -f - <<EOF || fail "d: nft"
table inet tclab_rst {
    chain c {
        type filter hook input priority 0; policy accept;
        ip saddr $FAKE_NET tcp dport 8080 $1 counter reject with tcp reset
    }
}
EOF
}
d_count() { on_tgt nft list table inet tclab_rst | grep -oE 'packets [0-9]+' | grep -oE '[0-9]+'; }
TCPCOPY_NAME=tcpcopy-d start_tcpcopy
d_rule ""
log "d: the target resets every packet from $FAKE_NET to 8080 (SYNs refused)"
load_start d 4
sleep 2
d_syn=$(d_count)
d_rule "tcp flags & syn == 0"
log "d: t=2 s: $d_syn packets reset; now every connection is accepted and reset at its first request"
alive_check "d (resets)"
load_wait d
sleep 1
d_data=$(d_count)
on_tgt nft delete table inet tclab_rst
log "d: $d_data packets reset after t=2 s; rule removed"
alive_check d
settle_phase d 10
uri_share "$ON_LOG" "$TG_LOG" "$PH_FROM" "$PH_TO" d
d_all="$SHARE_HIT/$SHARE_N ($SHARE)"
recover d
stop_copy d
d_synr=$(tc_stat target.retransmissions.refused_syn) d_reset=$(tc_stat sessions.outcome.target_reset)
d_rebuilt=$(tc_stat sessions.events.rebuilt) d_refused=$(tc_stat sessions.outcome.target_refused)
log "d: SYN retries $d_synr, rebuilt $d_rebuilt, target_reset $d_reset, target_refused $d_refused"
assert_ge "$d_syn" 1 "d: SYNs refused by the target"
assert_ge "$d_data" 1 "d: data packets reset by the target"
assert_ge "$d_synr" 1 "d: refused SYNs retried (counted)"
assert_ge $((d_reset + d_rebuilt)) 1 "d: target resets counted (target_reset or rebuilt)"
SUMMARY+=("d: reproduced $d_all (resets in place), SYN retries $d_synr, rebuilt $d_rebuilt, target_reset $d_reset")

_tc_stop_one "$INTERCEPT_PID" intercept "$INTERCEPT_LOG" || fail "intercept did not stop cleanly"
INTERCEPT_PID=""
for s in "${SUMMARY[@]}"; do echo "  $s"; done
pass "4 faults survived, copying recovered after each ($N_REC/$N_REC); tcpcopy VmRSS max $((RSS_MAX_KB / 1024)) MB < $MAX_RSS_MB MB"
