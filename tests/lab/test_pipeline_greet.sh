#!/usr/bin/env bash
# (a) Pipelining: 20 connections to the recording server, each writing 5 HTTP requests in one
#     send() and reading the 5 answers, twice. (b) A server-first protocol: the recorder greets
#     each connection (--greet) before the client speaks; 20 connections each read the greeting,
#     then send a request and read its answer, twice. For both, every connection's bytes on the
#     target must equal the production server's (same requests, same order).
set -euo pipefail
. "$(dirname "$0")/lib.sh"

CONNS=20 DEPTH=5 ROUNDS=2
lab_up
start_recorder "$NS_ONL" 0.0.0.0 81 online-pipe
ON_PIPE=$REC_DIR
start_recorder "$NS_TGT" 0.0.0.0 8081 target-pipe
TG_PIPE=$REC_DIR
start_recorder "$NS_ONL" 0.0.0.0 82 online-greet --greet "220 lab-recorder ready"
ON_GREET=$REC_DIR
start_recorder "$NS_TGT" 0.0.0.0 8082 target-greet --greet "220 lab-recorder ready"
TG_GREET=$REC_DIR
# The recorder's greeting, checked before relying on it (from the target itself, over
# loopback; that connection's empty recording is removed).
g=$(on_tgt "$LAB_PY" -c '
import socket
s = socket.create_connection(("127.0.0.1", 8082), timeout=3)
print(s.recv(100).decode().strip())
s.close()') || fail "no greeting from the target's recorder"
assert_eq "$g" "220 lab-recorder ready" "greeting of the recorder"
wait_until "grep -q '^127.0.0.1 ' $TG_GREET/conns.log" 5 || fail "the greeting check did not end"
rm -f "$TG_GREET"/127.0.0.1_*.bin
start_intercept -i eth0 -F 'tcp and (src port 8081 or src port 8082)'
start_tcpcopy -x 81-192.0.2.20:8081,82-192.0.2.20:8082 -s 192.0.2.30 -c 203.0.113.x

log "(a) $CONNS connections x $ROUNDS rounds of $DEPTH pipelined requests"
out=$(on_cli timeout 60 "$LAB_PY" "$LAB_LIB_DIR/pipeline_client.py" pipeline --host "$IP_ONL" \
    --port 81 --conns "$CONNS" --rounds "$ROUNDS" --depth "$DEPTH" 2>&1) || fail "pipeline client: $out"
log "pipeline client: $out"
log "(b) $CONNS connections: greeting, then $ROUNDS request/answer exchanges"
out=$(on_cli timeout 60 "$LAB_PY" "$LAB_LIB_DIR/pipeline_client.py" greet --host "$IP_ONL" \
    --port 82 --conns "$CONNS" --rounds "$ROUNDS" 2>&1) || fail "greet client: $out"
log "greet client: $out"
N_PIPE=$((CONNS * ROUNDS * DEPTH)) N_GREET=$((CONNS * ROUNDS))
assert_eq "$(lines "$ON_PIPE/requests.log")" "$N_PIPE" "pipelined requests recorded online"
assert_eq "$(lines "$ON_GREET/requests.log")" "$N_GREET" "greet requests recorded online"

tgt_bytes() { find "$TG_PIPE" "$TG_GREET" -name '*.bin' -printf '%s\n' | awk '{ s += $1 } END { print s + 0 }'; }
settle_stable tgt_bytes 20 2 >/dev/null
echo "(a) pipelining:"
report "$ON_PIPE/requests.log" "$TG_PIPE/requests.log"
compare_recordings "$ON_PIPE" "$TG_PIPE"
a_conns=$REC_CONNS a_ok=$REC_MATCHED a_bytes=$REC_BYTES
echo "(b) server first:"
report "$ON_GREET/requests.log" "$TG_GREET/requests.log"
compare_recordings "$ON_GREET" "$TG_GREET"
b_conns=$REC_CONNS b_ok=$REC_MATCHED b_bytes=$REC_BYTES
# Request order per connection, as the recorders parsed them.
order_diff=0
for d in "$ON_PIPE:$TG_PIPE" "$ON_GREET:$TG_GREET"; do
    if ! diff <(awk '{ print $2, $3, $4 }' "${d%%:*}/requests.log" | LC_ALL=C sort -s -k1,1n) \
        <(awk '{ print $2, $3, $4 }' "${d##*:}/requests.log" | LC_ALL=C sort -s -k1,1n) \
        >"$LAB_DIR/order.diff"; then
        order_diff=$((order_diff + 1))
        log "requests differ ($(basename "${d%%:*}")): $(grep '^[<>]' "$LAB_DIR/order.diff" | firstn 4 | tr '\n' ' ')"
    fi
done
stop_tc || fail "tcpcopy or intercept did not stop cleanly"
assert_eq "$a_conns" "$CONNS" "(a) connections recorded online"
assert_eq "$a_ok" "$CONNS" "(a) pipelined connections identical on the target"
assert_eq "$b_conns" "$CONNS" "(b) connections recorded online"
assert_eq "$b_ok" "$CONNS" "(b) server-first connections identical on the target"
assert_eq "$order_diff" 0 "recorders whose request lists differ"
pass "pipelined: $a_ok/$CONNS connections identical ($a_bytes bytes, $N_PIPE requests); server first: $b_ok/$CONNS identical ($b_bytes bytes, $N_GREET requests)"
