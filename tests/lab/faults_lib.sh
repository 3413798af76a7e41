# shellcheck shell=bash
# shellcheck disable=SC2034 # variables for the scenarios that source this file
# What the fault scenarios share (test_faults_link_down, _loss, _silent_target,
# _reset_target): each phase is a short paced wrk load (-t1 -c10, a unique URI per request)
# under its own tcpcopy, with intercept running. In every phase tcpcopy and intercept stay
# up, tcpcopy's VmRSS stays below MAX_RSS_MB, N_REC fresh curl requests after the fault is
# removed are all reproduced, and tcpcopy's final counters show the fault. Sourced after lib.sh.
. "$(dirname "${BASH_SOURCE[0]}")/impair.sh"

MAX_RSS_MB=${MAX_RSS_MB:-100}
N_REC=${N_REC:-5}
DELAY_MS=${DELAY_MS:-10}     # wrk's pause before each request (keeps replays short under faults)
RSS_MAX_KB=0

# faults_lab_up: the lab, nginx online and on the target (ON_LOG, TG_LOG, TG_DIR), intercept.
faults_lab_up() {
    lab_up
    start_nginx "$NS_ONL" 80 online
    ON_LOG=$NGINX_LOG
    start_nginx "$NS_TGT" 8080 target
    TG_LOG=$NGINX_LOG
    TG_DIR=$(dirname "$TG_LOG")
    start_intercept
}

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

# faults_end SUMMARY: stop intercept, pass with the phase's summary and the RSS bound.
faults_end() {
    _tc_stop_one "$INTERCEPT_PID" intercept "$INTERCEPT_LOG" || fail "intercept did not stop cleanly"
    INTERCEPT_PID=""
    pass "$1; copying recovered ($N_REC/$N_REC); tcpcopy VmRSS max $((RSS_MAX_KB / 1024)) MB < $MAX_RSS_MB MB"
}
