#!/usr/bin/env bash
# The channel survives hostile input (issue 5): tests/lab/chan_fuzz_client.py against an
# intercept --secret-file, while a tcpcopy with the secret stays connected (its 100 curls
# copied first): 200 connections proving the secret (so fuzzed frames reach the parser behind
# the handshake) and 100 without it (garbage, bad HELLOs, random AUTH proofs, truncated
# frames, huge lengths, ...). intercept must still be running, the good tcpcopy must still be
# connected, and 50 more curls must be reproduced; intercept's counters are reported.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/chan_security_lib.sh"

chan_lab_up
chan_secrets
INTERCEPT_NAME=intercept-b start_intercept "${ICPT_ARGS[@]}" --secret-file "$SECRET"
WHAT="before the fuzzing"
TCPCOPY_NAME=tcpcopy-b start_tcpcopy "${TC_ARGS[@]}" --secret-file "$SECRET"
curls 1 100 b
reproduced b 100

WHAT="fuzzed frames"
FUZZ="$LAB_DIR/fuzz.out"
log "chan_fuzz_client.py: 200 connections with the secret, 100 without"
ip netns exec "$ONL2" timeout 40 "$LAB_PY" "$LAB_LIB_DIR/chan_fuzz_client.py" --host "$IP_AST" \
    --port "$CHAN_PORT" --conns 200 --time-limit 20 --seed "${FUZZ_SEED:-1}" --secret-file "$SECRET" \
    >"$FUZZ" 2>&1 || { cat "$FUZZ" >&2; fail "$WHAT: the fuzz client (with the secret) failed or found intercept unreachable"; }
ip netns exec "$ONL2" timeout 30 "$LAB_PY" "$LAB_LIB_DIR/chan_fuzz_client.py" --host "$IP_AST" \
    --port "$CHAN_PORT" --conns 100 --time-limit 15 --seed "$((${FUZZ_SEED:-1} + 1))" \
    >>"$FUZZ" 2>&1 || { cat "$FUZZ" >&2; fail "$WHAT: the fuzz client (no secret) failed or found intercept unreachable"; }
sed 's/^/  /' "$FUZZ"
passed=$(grep -m1 '^fuzz total' "$FUZZ" | grep -oE 'auth passed [0-9]+' | grep -oE '[0-9]+' || echo 0)
kill -0 "$INTERCEPT_PID" 2>/dev/null || fail "$WHAT: intercept died"
kill -0 "$TCPCOPY_PID" 2>/dev/null || fail "$WHAT: the good tcpcopy died"
[ -n "$(on_ast ss -Htn state established "( sport = :$CHAN_PORT and dst $IP_ONL )")" ] ||
    fail "$WHAT: the good tcpcopy's channel is no longer established"
curls 1 50 c
reproduced c 50
[ "$passed" -gt 0 ] || log "warning: $WHAT: no fuzz connection passed the AUTH exchange: the deep frames only reached the handshake"
stop_tc || fail "intercept or tcpcopy did not stop cleanly after the fuzzing"
stats="captured $(ic_stat capture.packets), forwarded $(ic_stat replies.forwarded), peers accepted $(ic_stat peers.accepted), refused $(ic_stat peers.refused.allow_or_limit) (--allow, limit) + $(ic_stat peers.refused.auth) (auth), closed for bad frames $(ic_stat peers.bad_frames)"
pass "intercept alive after 300 fuzz connections ($passed authenticated) and still copying 50/50; intercept: $stats"
