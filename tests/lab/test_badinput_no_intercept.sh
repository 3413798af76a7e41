#!/usr/bin/env bash
# Bad input gives a clear, early error: with nothing listening at -s, tcpcopy exits non-zero
# with a message naming the intercept.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/badinput_lib.sh"

lab_up
[ -x "$TC_BIN/tcpcopy" ] || fail "$TC_BIN/tcpcopy not found"
WHAT="no intercept"
run_bounded ip netns exec "$NS_ONL" "$TC_BIN/tcpcopy" -x "80-$IP_TGT:8080" -s "$IP_AST" -c 203.0.113.x
[ "$RC" -ne 0 ] || fail "$WHAT: tcpcopy exited 0"
grep -qi 'intercept' "$OUT" || fail "$WHAT: no message naming the intercept"
pass "$WHAT: exit $RC: '$(grep -i -m1 intercept "$OUT")'"
