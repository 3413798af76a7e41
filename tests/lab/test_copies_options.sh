#!/usr/bin/env bash
# -n with the options it meets in practice (issue 25): every copy of every chosen session
# reaches the target, exactly so many times.
#   a. -n 3 -r 50: 600 short sessions (one request each); a sampled session is copied 3 times,
#      the others not at all; about half are sampled (35..65%).
#   b. -n 3 with two intercepts (-s assist,target; the second captures the replies as they
#      leave the target): wrk -t1 -c10, 6,000 requests, each on the target exactly 3 times.
#   c. -n 2 offline: a capture of 300 requests (100 curl connections of 3) replayed with
#      --fast, each request on the target exactly twice.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

lab_up
start_http_servers

# copies_of PREFIX: "N_URIS BAD" for the target's URIs under /PREFIX/: how many distinct, and
# how many of them not seen exactly COPIES times.
copies_of() {
    grep " /$1/" "$TG_LOG" | awk '{ print $4 }' | LC_ALL=C sort | uniq -c |
        awk -v c="$2" '{ n++; if ($1 != c) bad++ } END { print n + 0, bad + 0 }'
}

stop_copy() {
    _tc_stop_one "$TCPCOPY_PID" tcpcopy "$TCPCOPY_LOG" || fail "$1: tcpcopy did not stop cleanly"
    TCPCOPY_PID=""
}

# ---- a: -n 3 -r 50 ---------------------------------------------------------------------------
TCPCOPY_NAME=tcpcopy-a start_tcpcopy "${TCPCOPY_ARGS_DEFAULT[@]}" -n 3 -r 50
short_sessions 600 nr || fail "a: the client failed"
assert_eq "$(grep -c ' /nr/' "$ON_LOG")" 600 "a: sessions online"
settle "grep -c ' /nr/' $TG_LOG" 30 "" 3 >/dev/null
stop_copy a
read -r a_uris a_bad <<<"$(copies_of nr 3)"
log "a: $a_uris of 600 sessions sampled, $a_bad not copied exactly 3 times"
assert_eq "$a_bad" 0 "a: sampled sessions not copied exactly 3 times"
[ "$a_uris" -ge 210 ] && [ "$a_uris" -le 390 ] || fail "a: $a_uris of 600 sessions sampled (35..65% expected)"

# ---- b: -n 3, two intercepts -----------------------------------------------------------------
ICPT1_PID=$INTERCEPT_PID
NS_INTERCEPT=$NS_TGT INTERCEPT_NAME=intercept-tgt start_intercept -i eth0 -F 'tcp and src port 8080'
ICPT2_PID=$INTERCEPT_PID ICPT2_LOG=$INTERCEPT_LOG
TCPCOPY_NAME=tcpcopy-b start_tcpcopy -x "80-$IP_TGT:8080" -s "$IP_AST,$IP_TGT" -c 203.0.113.x -n 3
wait_until "grep -q 'tcpcopy connected' $ICPT2_LOG" 5 || fail "b: tcpcopy did not connect to the second intercept"
wrk_count nb 10 6000 "http://$IP_ONL/"
n_b=$(grep -c ' /nb/' "$ON_LOG")
settle "grep -c ' /nb/' $TG_LOG" 60 "$((n_b * 3))" >/dev/null
stop_copy b
read -r b_uris b_bad <<<"$(copies_of nb 3)"
assert_eq "$b_uris" "$n_b" "b: requests on the target (distinct)"
assert_eq "$b_bad" 0 "b: requests not copied exactly 3 times"
_tc_stop_one "$ICPT2_PID" intercept-tgt "$ICPT2_LOG" || fail "b: the second intercept did not stop cleanly"
INTERCEPT_PID=$ICPT1_PID

# ---- c: -n 2 offline -------------------------------------------------------------------------
CAP=$LAB_DIR/c.pcap
ip netns exec "$NS_ONL" tcpdump -Z root -B 32768 -i eth0 -U -s 0 -w "$CAP" 'tcp dst port 80' \
    >"$LAB_DIR/tcpdump.log" 2>&1 &
TD=$!
lab_track "$TD"
wait_until "grep -q listening $LAB_DIR/tcpdump.log" 10 || fail "c: tcpdump did not start"
for ((i = 1; i <= 100; i++)); do
    on_cli curl -s --max-time 5 "http://$IP_ONL/no/$i/[1-3]" >/dev/null || fail "c: curl $i failed"
done
sleep 2
kill -INT "$TD" 2>/dev/null || true
wait "$TD" 2>/dev/null || true
grep -qE '^0 packets dropped by kernel' "$LAB_DIR/tcpdump.log" || fail "c: the recording dropped packets"
TCPCOPY_LOG="$LAB_DIR/tcpcopy-c.log"
ip netns exec "$NS_ONL" timeout 60 "$TC_BIN/tcpcopy" "${TCPCOPY_ARGS_DEFAULT[@]}" -n 2 -i "$CAP" --fast \
    >"$TCPCOPY_LOG" 2>&1 || fail "c: offline tcpcopy failed: $(tail -n 3 "$TCPCOPY_LOG")"
settle "grep -c ' /no/' $TG_LOG" 30 600 >/dev/null
read -r c_uris c_bad <<<"$(copies_of no 2)"
assert_eq "$c_uris" 300 "c: recorded requests on the target (distinct)"
assert_eq "$c_bad" 0 "c: requests not replayed exactly twice"
stop_tc || fail "intercept did not stop cleanly"
pass "-n 3 -r 50: $a_uris/600 sessions x 3; -n 3 with two intercepts: $b_uris x 3; -n 2 offline: $c_uris x 2"
