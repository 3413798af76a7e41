#!/usr/bin/env bash
# Offline replay at scale: a capture of TOTAL (300,000) requests, recorded with tcpdump on the
# online host's eth0 while wrk -t1 -c10 runs at full rate (bounded by count), is replayed by
# tcpcopy from the file with --fast (paced only by the target's answers). Every recorded request
# must reach the target (same URI set), and tcpcopy's counters must show nothing lost.
set -euo pipefail
TC_LAB_TIMEOUT=${TC_LAB_TIMEOUT:-280}
. "$(dirname "$0")/lib.sh"

TOTAL=${TOTAL:-300000}
lab_up
start_nginx "$NS_ONL" 80 online
ON_LOG=$NGINX_LOG
start_nginx "$NS_TGT" 8080 target
TG_LOG=$NGINX_LOG

# ---- record --------------------------------------------------------------------------------
CAP=$LAB_DIR/big.pcap
# Only the client's side is needed (its ACKs tell the answers' sizes). A 256 MB buffer of
# TPACKET_V3 blocks (no --immediate-mode: see offline_lib.sh): a recording that dropped
# packets could not be replayed whole, and would say nothing of tcpcopy. Blocks are handed
# over when full or after tcpdump's 1 s timeout: the recording stops 2 s after the load.
ip netns exec "$NS_ONL" tcpdump -Z root -B 262144 -i eth0 -s 0 -w "$CAP" 'tcp dst port 80' \
    >"$LAB_DIR/tcpdump.log" 2>&1 &
TD=$!
lab_track "$TD"
wait_until "grep -q listening $LAB_DIR/tcpdump.log" 10 || fail "tcpdump did not start"
wrk_count big 10 "$TOTAL" "http://$IP_ONL/"
sleep 2
kill -INT "$TD" 2>/dev/null || true
wait "$TD" 2>/dev/null || true
d=$(grep -oE '^[0-9]+ packets dropped by kernel' "$LAB_DIR/tcpdump.log" | grep -oE '^[0-9]+') ||
    fail "no drop count from tcpdump: $(tr '\n' ' ' <"$LAB_DIR/tcpdump.log")"
[ "$d" -eq 0 ] || fail "the recording itself is incomplete: tcpdump dropped $d packets"
N_REC=$(lines "$ON_LOG")
assert_ge "$N_REC" "$TOTAL" "requests served online while recording"
log "capture: $(stat -c %s "$CAP") bytes, $(grep -oE '^[0-9]+ packets captured' "$LAB_DIR/tcpdump.log")"

# ---- replay --------------------------------------------------------------------------------
start_intercept
TCPCOPY_LOG="$LAB_DIR/tcpcopy.log"
log "replay: tcpcopy ${TCPCOPY_ARGS_DEFAULT[*]} -i $CAP --fast"
t0=$SECONDS
ip netns exec "$NS_ONL" timeout 200 "$TC_BIN/tcpcopy" "${TCPCOPY_ARGS_DEFAULT[@]}" -i "$CAP" --fast \
    --stats-json "$(stats_file "$TCPCOPY_LOG")" \
    >"$TCPCOPY_LOG" 2>&1 &
TCPCOPY_PID=$!
lab_track "$TCPCOPY_PID"
wait "$TCPCOPY_PID" && rc=0 || rc=$?
TCPCOPY_PID=""
log "replay: exit $rc after $((SECONDS - t0)) s"
[ "$rc" -eq 0 ] || fail "tcpcopy exited with status $rc"
! grep -qE 'Sanitizer|runtime error:' "$TCPCOPY_LOG" || fail "tcpcopy: sanitizer report"
settle "lines $TG_LOG" 30 "$N_REC" 5 >/dev/null
grep -E 'final:' "$TCPCOPY_LOG" | sed 's/^/  /'
report "$ON_LOG" "$TG_LOG"
uri_share "$ON_LOG" "$TG_LOG" 1 '$' all
[ "$SHARE_HIT" -eq "$SHARE_N" ] ||
    fail "$((SHARE_N - SHARE_HIT)) of $SHARE_N recorded requests not replayed, e.g. $(firstn 5 <"$LAB_DIR/missing-all.txt" | tr '\n' ' ')"
assert_eq "$(tc_stat gaps_skipped)" 0 "capture gaps skipped"
_tc_stop_one "$INTERCEPT_PID" intercept "$INTERCEPT_LOG" || fail "intercept did not stop cleanly"
INTERCEPT_PID=""
pass "$SHARE_HIT/$SHARE_N recorded requests replayed from a $(($(stat -c %s "$CAP") / 1000000)) MB capture"
