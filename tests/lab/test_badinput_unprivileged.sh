#!/usr/bin/env bash
# Bad input gives a clear, early error: tcpcopy run by user nobody without capabilities (a copy
# of the binary nobody may execute), with the servers and intercept up so that only the missing
# privilege can stop it, exits non-zero with a message about root / CAP_NET_RAW.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/badinput_lib.sh"

lab_up
[ -x "$TC_BIN/tcpcopy" ] || fail "$TC_BIN/tcpcopy not found"
[ -x "$TC_BIN/intercept" ] || fail "$TC_BIN/intercept not found"
badinput_servers
WHAT="unprivileged"
chmod 711 "$LAB_DIR"
install -d -m 755 "$LAB_DIR/nobody"
install -m 755 "$TC_BIN/tcpcopy" "$LAB_DIR/nobody/tcpcopy"
run_bounded ip netns exec "$NS_ONL" setpriv --reuid=nobody --regid=nogroup --clear-groups \
    --inh-caps=-all "$LAB_DIR/nobody/tcpcopy" -x "80-$IP_TGT:8080" -s "$IP_AST" -c 203.0.113.x
[ "$RC" -ne 0 ] || fail "$WHAT: tcpcopy exited 0 as nobody"
[ "$RC" -ne 126 ] && [ "$RC" -ne 127 ] || fail "$WHAT: could not execute the binary as nobody"
grep -Eqi 'root|CAP_NET_RAW' "$OUT" || fail "$WHAT: no message about root or CAP_NET_RAW"
msg=$(grep -Ei -m1 'root|CAP_NET_RAW' "$OUT")
stop_tc || fail "intercept did not stop cleanly"
pass "$WHAT: exit $RC: '$msg'"
