#!/usr/bin/env bash
# tcpcopy --compare with a server that speaks first: the lab recorder greets each connection
# ("220 ...") before the client speaks, then request/answer exchanges, framed raw
# (--compare-proto raw: answers cut at the client's acknowledgement numbers). The greeting is
# compared as a request of its own ("(greeting)"), then each exchange: every one compared,
# all equal.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/compare_lib.sh"

CONNS=20 ROUNDS=2
lab_up
start_recorder "$NS_ONL" 0.0.0.0 82 online-greet --greet "220 lab-recorder ready"
start_recorder "$NS_TGT" 0.0.0.0 8082 target-greet --greet "220 lab-recorder ready"
SECRET="$LAB_DIR/secret"
(umask 077 && head -c 24 /dev/urandom | base64 >"$SECRET")
start_intercept -i eth0 -F 'tcp and src port 8082' --payload --secret-file "$SECRET"
CMP_DIR="$LAB_DIR/compare"
start_tcpcopy -x 82-192.0.2.20:8082 -s 192.0.2.30 -c 203.0.113.x --secret-file "$SECRET" \
    --compare "$CMP_DIR" --compare-proto raw
out=$(on_cli timeout 60 "$LAB_PY" "$LAB_LIB_DIR/pipeline_client.py" greet --host "$IP_ONL" \
    --port 82 --conns "$CONNS" --rounds "$ROUNDS" 2>&1) || fail "greet client: $out"
N=$((CONNS * (ROUNDS + 1)))
settle "cmp_results" 30 "$N" >/dev/null
stop_tc || fail "tcpcopy or intercept did not stop cleanly"
log "summary.json: $(tr -d '\n' <"$CMP_DIR/summary.json" | cut -c1-400)"
assert_eq "$(tc_stat compare.greetings)" "$CONNS" "greetings"
# Every greeting compared: it comes after its connection's SYN in the one capture socket.
assert_eq "$(summary not_compared)" 0 "not compared"
assert_eq "$(summary compared)" "$N" "greetings and requests compared"
assert_eq "$(summary equal)" "$N" "equal"
pass "server-first: $CONNS greetings and $((CONNS * ROUNDS)) requests, all $N compared equal"
