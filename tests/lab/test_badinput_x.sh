#!/usr/bin/env bash
# Bad input gives a clear, early error: a malformed -x exits with status 2 and a one-line
# message naming -x.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/badinput_lib.sh"

lab_up
[ -x "$TC_BIN/tcpcopy" ] || fail "$TC_BIN/tcpcopy not found"
WHAT="malformed -x"
run_bounded ip netns exec "$NS_ONL" "$TC_BIN/tcpcopy" -x 80-192.0.2.20 -s "$IP_AST"
assert_eq "$RC" 2 "$WHAT: exit status"
first=$(grep -v '^[[:space:]]*$' "$OUT" | firstn 1)
grep -q -- '-x' <<<"$first" || fail "$WHAT: the first line does not mention -x: '$first'"
nl=$(grep -cv '^[[:space:]]*$' "$OUT" || true)
[ "$nl" -le 2 ] || fail "$WHAT: expected a one-line message, got $nl lines"
pass "$WHAT: exit 2: '$first'"
