#!/usr/bin/env bash
# A server-first protocol: the recorder greets each connection (--greet) before the client
# speaks; 20 connections each read the greeting, then send a request and read its answer,
# twice. Every connection's bytes on the target must equal the production server's.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

CONNS=20 ROUNDS=2
lab_up
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
start_intercept -i eth0 -F 'tcp and src port 8082'
start_tcpcopy -x 82-192.0.2.20:8082 -s 192.0.2.30 -c 203.0.113.x

log "$CONNS connections: greeting, then $ROUNDS request/answer exchanges"
out=$(on_cli timeout 60 "$LAB_PY" "$LAB_LIB_DIR/pipeline_client.py" greet --host "$IP_ONL" \
    --port 82 --conns "$CONNS" --rounds "$ROUNDS" 2>&1) || fail "greet client: $out"
log "greet client: $out"
N=$((CONNS * ROUNDS))
assert_eq "$(lines "$ON_GREET/requests.log")" "$N" "requests recorded online"
settle "lines $TG_GREET/requests.log" 20 "$N" >/dev/null
report "$ON_GREET/requests.log" "$TG_GREET/requests.log"
compare_recordings "$ON_GREET" "$TG_GREET"
in_order=0
requests_in_order "$ON_GREET" "$TG_GREET" || in_order=1
stop_tc || fail "tcpcopy or intercept did not stop cleanly"
assert_eq "$REC_CONNS" "$CONNS" "connections recorded online"
assert_eq "$REC_MATCHED" "$CONNS" "server-first connections identical on the target"
assert_eq "$in_order" 0 "request lists that differ"
pass "server first: $REC_MATCHED/$CONNS identical ($REC_BYTES bytes, $N requests)"
