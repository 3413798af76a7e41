#!/usr/bin/env bash
# The channel admits only authenticated peers (issue 5): intercept --secret-file (mode 0600).
# With a wrong secret, and with none, tcpcopy is refused with a clear message on both sides and
# exits non-zero; a secret file readable by others is refused at startup; with the same secret
# tcpcopy copies 100% of 100 curls.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/chan_security_lib.sh"

chan_lab_up
chan_secrets
INTERCEPT_NAME=intercept-b start_intercept "${ICPT_ARGS[@]}" --secret-file "$SECRET"

WHAT="wrong secret"
run_bounded ip netns exec "$NS_ONL" "$TC_BIN/tcpcopy" "${TC_ARGS[@]}" --secret-file "$WRONG"
[ "$RC" -ne 0 ] || fail "$WHAT: tcpcopy exited 0"
grep -Eqi 'auth|secret' "$OUT" || fail "$WHAT: tcpcopy's message says nothing about authentication or the secret"
log "ok: $WHAT: tcpcopy exit $RC: '$(grep -Ei -m1 'auth|secret' "$OUT")'"
wait_until "grep -Eqi '$IP_ONL:[0-9]+.*(auth|secret)' $INTERCEPT_LOG" 3 ||
    fail "$WHAT: intercept's log has no authentication failure naming $IP_ONL"
log "ok: $WHAT: intercept: '$(grep -Ei -m1 "$IP_ONL:[0-9]+.*(auth|secret)" "$INTERCEPT_LOG" | sed 's/^[^ ]* [^ ]* //')'"

WHAT="no secret"
n_auth_lines=$(grep -Eci 'auth|secret' "$INTERCEPT_LOG" || true)
run_bounded ip netns exec "$NS_ONL" "$TC_BIN/tcpcopy" "${TC_ARGS[@]}"
[ "$RC" -ne 0 ] || fail "$WHAT: tcpcopy exited 0"
grep -Eqi 'auth|secret' "$OUT" || fail "$WHAT: tcpcopy's message says nothing about authentication or --secret-file"
log "ok: $WHAT: tcpcopy exit $RC: '$(grep -Ei -m1 'auth|secret' "$OUT")'"
wait_until "[ \$(grep -Eci 'auth|secret' $INTERCEPT_LOG) -gt $n_auth_lines ]" 3 ||
    fail "$WHAT: intercept logged nothing about the unauthenticated peer"
log "ok: $WHAT: intercept: '$(grep -Ei 'auth|secret' "$INTERCEPT_LOG" | tail -n 1 | sed 's/^[^ ]* [^ ]* //')'"

WHAT="secret file readable by others"
run_bounded ip netns exec "$NS_ONL" "$TC_BIN/tcpcopy" "${TC_ARGS[@]}" --secret-file "$OPEN"
[ "$RC" -ne 0 ] || fail "$WHAT: tcpcopy exited 0"
grep -q "$OPEN" "$OUT" || fail "$WHAT: the message does not name the file"
log "ok: $WHAT: tcpcopy exit $RC: '$(grep -m1 "$OPEN" "$OUT")'"

WHAT="right secret"
TCPCOPY_NAME=tcpcopy-b start_tcpcopy "${TC_ARGS[@]}" --secret-file "$SECRET"
curls 1 100 b
reproduced b 100
stop_tc || fail "tcpcopy or intercept did not stop cleanly"
pass "wrong/no secret refused (both sides say so), a file readable by others refused, right secret 100/100"
