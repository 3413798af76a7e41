#!/usr/bin/env bash
# Pipelining: 20 connections to the recording server, each writing 5 HTTP requests in one
# send() and reading the 5 answers, twice. Every connection's bytes on the target must equal
# the production server's (same requests, same order).
set -euo pipefail
. "$(dirname "$0")/lib.sh"

CONNS=20 DEPTH=5 ROUNDS=2
lab_up
start_recorder "$NS_ONL" 0.0.0.0 81 online-pipe
ON_PIPE=$REC_DIR
start_recorder "$NS_TGT" 0.0.0.0 8081 target-pipe
TG_PIPE=$REC_DIR
start_intercept -i eth0 -F 'tcp and src port 8081'
start_tcpcopy -x 81-192.0.2.20:8081 -s 192.0.2.30 -c 203.0.113.x

log "$CONNS connections x $ROUNDS rounds of $DEPTH pipelined requests"
out=$(on_cli timeout 60 "$LAB_PY" "$LAB_LIB_DIR/pipeline_client.py" pipeline --host "$IP_ONL" \
    --port 81 --conns "$CONNS" --rounds "$ROUNDS" --depth "$DEPTH" 2>&1) || fail "pipeline client: $out"
log "pipeline client: $out"
N=$((CONNS * ROUNDS * DEPTH))
assert_eq "$(lines "$ON_PIPE/requests.log")" "$N" "pipelined requests recorded online"
settle "lines $TG_PIPE/requests.log" 20 "$N" >/dev/null
report "$ON_PIPE/requests.log" "$TG_PIPE/requests.log"
compare_recordings "$ON_PIPE" "$TG_PIPE"
in_order=0
requests_in_order "$ON_PIPE" "$TG_PIPE" || in_order=1
stop_tc || fail "tcpcopy or intercept did not stop cleanly"
assert_eq "$REC_CONNS" "$CONNS" "connections recorded online"
assert_eq "$REC_MATCHED" "$CONNS" "pipelined connections identical on the target"
assert_eq "$in_order" 0 "request lists that differ"
pass "pipelined: $REC_MATCHED/$CONNS connections identical ($REC_BYTES bytes, $N requests)"
