#!/usr/bin/env bash
# -n at scale (issue 25): ab -n 2000 -c 20 without keep-alive (HTTP/1.0: the server closes
# after each answer), tcpcopy -n 50 -c 203.0.113.x: at least 99.9% of the 100,000 copies reach
# the target (each copy of a client takes its own address of the pool, so one address's 64k
# ports are no limit), and the answers, delimited by the server's close, complete by their
# bytes (the FIN counted on both sides), not by a quiet interval.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/copies_lib.sh"

N_AB=${N_AB:-2000}
COPIES=${COPIES:-50}
lab_up
start_http_servers
copies_ab_n50
waits=$(tc_stat requests.answer_waits) bybytes=$(tc_stat requests.answer_by.bytes) byquiet=$(tc_stat requests.answer_by.quiet)
unplaced=$(tc_stat sessions.not_copied.no_free_port)
log "answers waited $waits: by bytes $bybytes, by quiet $byquiet; no free port $unplaced"
assert_ge "$N_TG" "$((WANT * 999 / 1000))" "copies on the target (99.9% of $WANT)"
assert_ge "$ADDRS" "$COPIES" "fake client addresses used"
assert_eq "$byquiet" 0 "answers complete by quiet (a close-delimited answer completes by its bytes)"
# An answer may still outlast --answer-timeout when the target dropped its SYN or request
# (a full accept queue under this load) and tcpcopy had to resend it: how many depends on the
# machine's speed, so the check is causal, not a share: every wait ended by bytes or by the
# timeout, and no more timeouts than resends.
bytimeout=$(tc_stat requests.answer_by.timeout)
resends=$(( $(tc_stat target.retransmissions.syn) + $(tc_stat target.retransmissions.timeout) ))
log "answers by timeout $bytimeout; SYNs and segments resent on a timeout $resends"
assert_ge "$((bybytes + bytimeout))" "$waits" "answer waits ended by bytes or by the timeout (answers by bytes include those with no wait)"
assert_ge "$resends" "$bytimeout" "answers by timeout (each after a resend to the target)"
assert_ge "$bybytes" "$((WANT * 9 / 10))" "answers complete by bytes (90%)"
stop_tc || fail "intercept did not stop cleanly"
pass "-n $COPIES: $N_TG/$WANT copies from $ADDRS addresses, answers by bytes $bybytes, by quiet $byquiet, by timeout $bytimeout ($resends resends)"
