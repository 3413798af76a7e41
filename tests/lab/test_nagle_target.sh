#!/usr/bin/env bash
# A target that writes each answer in two pieces without TCP_NODELAY (the recorder's
# --split-response): its kernel holds the second piece until the first is acknowledged
# (Nagle). tcpcopy delays its ACKs (--ack-delay) for the next request to carry them, but
# not while a request waits for the rest of an answer, or each request would stall for
# the whole delay. 4 connections x 100 sequential keep-alive requests online (the online
# server answers in one piece): every connection's bytes must reach the target, and the
# answers must be complete by their bytes, not by a pause ("by quiet") or an ACK timer.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

CONNS=4 R=100
lab_up
start_recorder "$NS_ONL" 0.0.0.0 81 online --resp-bytes 600
ON_REC=$REC_DIR
start_recorder "$NS_TGT" 0.0.0.0 8081 target --resp-bytes 600 --split-response
TG_REC=$REC_DIR
start_intercept -i eth0 -F 'tcp and src port 8081'
# --ack-delay 50: a stall per request would be plain in the time as in the counter.
start_tcpcopy -x 81-192.0.2.20:8081 -s 192.0.2.30 -c 203.0.113.x --ack-delay 50

log "$CONNS connections x $R sequential keep-alive requests"
curl_keepalive "$CONNS" "$R" "http://$IP_ONL:81/n" 100
N=$((CONNS * R))
assert_eq "$(lines "$ON_REC/requests.log")" "$N" "requests recorded online"

t0=$(date +%s.%N)
settle "lines $TG_REC/requests.log" 30 "$N" >/dev/null
report "$ON_REC/requests.log" "$TG_REC/requests.log"
compare_recordings "$ON_REC" "$TG_REC"
stop_tc || fail "tcpcopy or intercept did not stop cleanly"
[ "$REC_MATCHED" -eq "$REC_CONNS" ] && [ "$REC_CONNS" -eq "$CONNS" ] ||
    fail "$REC_MATCHED of $REC_CONNS connections identical on the target (want $CONNS)"

delayed=$(tc_stat target.acks_delayed)
by_bytes=$(tc_stat requests.answer_by.bytes)
by_quiet=$(tc_stat requests.answer_by.quiet)
log "tcpcopy: ACKs delayed $delayed, answers complete by bytes $by_bytes, by quiet $by_quiet"
# A request stalled behind a held-back answer is released only when the answer has been
# quiet for a while (by quiet) or by the ACK timer (delayed). The last answer of each
# connection has no request after it: its ACK may wait out the delay.
[ "$by_quiet" -le "$CONNS" ] ||
    fail "$by_quiet of $N answers complete only by quiet: requests stalled on answers the target held back"
[ "$delayed" -le $((CONNS * 2)) ] ||
    fail "$delayed delayed ACKs for $N requests: requests stalled on answers the target held back"
[ "$by_bytes" -ge $((N - CONNS)) ] || fail "only $by_bytes of $N answers complete by bytes"
pass "$N/$N requests reproduced, $CONNS/$CONNS connections identical, answers complete by bytes $by_bytes, by quiet $by_quiet, $delayed delayed ACKs"
