#!/usr/bin/env bash
# -n at scale, and target tuples the target still remembers (issue 25).
#  1. ab -n 2000 -c 20 without keep-alive (HTTP/1.0: the server closes after each answer),
#     tcpcopy -n 50 -c 203.0.113.x: at least 99.9% of the 100,000 copies reach the target
#     (each copy of a client takes its own address of the pool, so one address's 64k ports
#     are no limit), and the answers, delimited by the server's close, complete by their
#     bytes (the FIN counted on both sides), not by a quiet interval.
#  2. At once, a new tcpcopy -n 5 on a keep-alive wrk load (bounded by count): the target
#     still holds the first run's tuples in TIME-WAIT; every copy of every request arrives.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

N_AB=${N_AB:-2000}
COPIES=${COPIES:-50}
N_KA=${N_KA:-20000}
lab_up
start_http_servers

# ---- 1: -n 50 on short connections ----------------------------------------------------------
TCPCOPY_NAME=tcpcopy-n50 start_tcpcopy "${TCPCOPY_ARGS_DEFAULT[@]}" -n "$COPIES"
log "ab -n $N_AB -c 20 (no keep-alive), -n $COPIES"
on_cli timeout 120 ab -q -n "$N_AB" -c 20 "http://$IP_ONL/ab/x" >"$LAB_DIR/ab.out" 2>&1 ||
    fail "ab failed: $(tail -n 3 "$LAB_DIR/ab.out")"
grep -E 'Complete requests|Failed requests' "$LAB_DIR/ab.out" | sed 's/^/  ab: /'
n_on=$(grep -c ' /ab/x ' "$ON_LOG" || true)
assert_eq "$n_on" "$N_AB" "ab requests served online"
want=$((n_on * COPIES))
settle "grep -c ' /ab/x ' $TG_LOG" 150 "$want" >/dev/null
n_tg=$(grep -c ' /ab/x ' "$TG_LOG" || true)
addrs=$(awk '$4 == "/ab/x" { print $1 }' "$TG_LOG" | sort -u | wc -l)
log "copies on the target: $n_tg of $want, from $addrs addresses"
_tc_stop_one "$TCPCOPY_PID" tcpcopy "$TCPCOPY_LOG" || fail "tcpcopy -n $COPIES did not stop cleanly"
TCPCOPY_PID=""
waits=$(tc_stat requests.answer_waits) bybytes=$(tc_stat requests.answer_by.bytes) byquiet=$(tc_stat requests.answer_by.quiet)
unplaced=$(tc_stat sessions.not_copied.no_free_port)
log "answers waited $waits: by bytes $bybytes, by quiet $byquiet; no free port $unplaced"
assert_ge "$n_tg" "$((want * 999 / 1000))" "copies on the target (99.9% of $want)"
assert_ge "$addrs" "$COPIES" "fake client addresses used"
assert_eq "$byquiet" 0 "answers complete by quiet (a close-delimited answer completes by its bytes)"
# A request the target's full accept queue dropped is resent after a retransmission timeout,
# and its answer may then outlast the answer timeout: a few hundred in 100,000.
assert_ge "$bybytes" "$((want * 99 / 100))" "answers complete by bytes (99%)"
part1="$n_tg/$want copies from $addrs addresses, answers by bytes $bybytes, by quiet $byquiet"

# ---- 2: -n 5 keep-alive, right after ---------------------------------------------------------
tw=$(on_tgt ss -Htan state time-wait '( sport = :8080 )' | wc -l)
log "tuples in TIME-WAIT on the target: $tw"
TCPCOPY_NAME=tcpcopy-n5 start_tcpcopy "${TCPCOPY_ARGS_DEFAULT[@]}" -n 5
from=$(($(lines "$ON_LOG") + 1))
wrk_count ka 10 "$N_KA" "http://$IP_ONL/"
n_ka=$(grep -c ' /ka/' "$ON_LOG" || true)
settle "grep -c ' /ka/' $TG_LOG" 120 "$((n_ka * 5))" >/dev/null
_tc_stop_one "$TCPCOPY_PID" tcpcopy "$TCPCOPY_LOG" || fail "tcpcopy -n 5 did not stop cleanly"
TCPCOPY_PID=""
awk '$4 ~ /^\/ka\// { print $4 }' "$TG_LOG" | LC_ALL=C sort | uniq -c | awk '$1 != 5 { n++ } END { print n + 0 }' \
    >"$LAB_DIR/not5.txt"
uri_share "$ON_LOG" "$TG_LOG" "$from" '$' ka
moved=$(tc_stat sessions.events.moved_tuple) stale=$(tc_stat sessions.events.stale_syn_answer)
log "-n 5: SYNs answered by an older connection $stale, sessions moved to a fresh tuple $moved"
assert_eq "$(grep -c ' /ka/' "$TG_LOG" || true)" "$((n_ka * 5))" "-n 5: copies on the target"
assert_eq "$SHARE" 1.0000 "-n 5: share of requests reproduced"
assert_eq "$(cat "$LAB_DIR/not5.txt")" 0 "-n 5: URIs not copied exactly 5 times"
_tc_stop_one "$INTERCEPT_PID" intercept "$INTERCEPT_LOG" || fail "intercept did not stop cleanly"
INTERCEPT_PID=""
pass "-n $COPIES: $part1; -n 5 after $tw TIME-WAIT tuples: $((n_ka * 5))/$((n_ka * 5)) (moved $moved, stale SYNs $stale)"
