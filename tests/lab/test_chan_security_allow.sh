#!/usr/bin/env bash
# The channel admits only allowed peers (issue 5): intercept --allow 192.0.2.10/32. A tcpcopy
# on 192.0.2.11 is refused: it exits non-zero with a message naming the intercept and saying it
# was refused (not allowed), and intercept's log names the peer's address and the --allow that
# would admit it; a raw connection from there gets no HELLO; the tcpcopy on 192.0.2.10 is
# admitted and copies 20 curls.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/chan_security_lib.sh"

chan_lab_up
WHAT="outside --allow"
INTERCEPT_NAME=intercept-a start_intercept "${ICPT_ARGS[@]}" --allow "$IP_ONL/32"
run_bounded ip netns exec "$ONL2" "$TC_BIN/tcpcopy" "${TC_ARGS[@]}"
[ "$RC" -ne 0 ] || fail "$WHAT: tcpcopy on $IP_ONL2 exited 0"
grep -q "$IP_AST" "$OUT" || fail "$WHAT: tcpcopy's message does not name the intercept $IP_AST"
# A clear message says that intercept refused this host (its --allow), not just "reset".
grep -Eqi 'refus|allow' "$OUT" ||
    fail "$WHAT: tcpcopy's message does not say that intercept refused it (--allow): '$(grep -m1 "$IP_AST" "$OUT")'"
log "ok: $WHAT: tcpcopy exit $RC: '$(grep -m1 "$IP_AST" "$OUT")'"
v=$(no_hello "$ONL2")
assert_eq "$v" closed "$WHAT: a raw HELLO from $IP_ONL2"
wait_until "grep -q 'refused peer $IP_ONL2:' $INTERCEPT_LOG" 3 || fail "$WHAT: intercept's log does not name the refused peer $IP_ONL2"
line=$(grep -m1 "refused peer $IP_ONL2:" "$INTERCEPT_LOG")
grep -q -- '--allow' <<<"$line" || fail "$WHAT: the refusal does not name --allow: $line"
grep -qE -- "--allow ${IP_ONL2%.*}\.[0-9]+/[0-9]+" <<<"$line" || fail "$WHAT: the refusal does not suggest an --allow admitting $IP_ONL2: $line"
log "ok: $WHAT: intercept: '${line#*: }'"
WHAT="inside --allow"
TCPCOPY_NAME=tcpcopy-a start_tcpcopy "${TC_ARGS[@]}"
curls 1 20 a
reproduced a 20
stop_tc || fail "tcpcopy or intercept did not stop cleanly"
pass "refused outside --allow (reason shown on both sides, no HELLO), 20/20 copied inside"
