#!/usr/bin/env bash
# tcpcopy --compare with a server that speaks first: the lab recorder greets each connection
# ("220 ...") before the client speaks, then request/answer exchanges, framed raw
# (--compare-proto raw: answers cut at the client's acknowledgement numbers). The greeting is
# compared as a request of its own ("(greeting)"), then each exchange: all equal (a greeting
# whose bytes the capture read before the client's SYN is counted not compared).
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
# A greeting read from the answers' socket before the client's SYN (a slow machine, a
# sanitizer build) is lost to the comparison: not compared, with its reason, never different.
nc=$(summary not_compared)
assert_eq "$(($(summary compared) + nc))" "$N" "greetings and requests with a result"
assert_eq "$(summary different)" 0 "different"
assert_ge "$((CONNS / 4))" "$nc" "not compared (at most a quarter of the connections)"
assert_eq "$(($(summary not_compared_by_reason.online_incomplete) + \
    $(summary not_compared_by_reason.no_answer_online)))" "$nc" "not compared for the online side's capture"
pass "server-first: $CONNS greetings and $((CONNS * ROUNDS)) requests, $(summary equal) compared equal, $nc not compared, none different"
