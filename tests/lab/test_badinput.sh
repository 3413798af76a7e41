#!/usr/bin/env bash
# Bad input must give a clear, early error, and hostile channel input must not take intercept
# (or a running copy) down:
#  (a) a malformed -x: exit status 2 and a one-line message naming -x;
#  (b) no intercept listening at -s: non-zero exit and a message naming the intercept;
#  (c) no privilege (user nobody): non-zero exit and a message about root / CAP_NET_RAW;
#  (d) a garbage frame on intercept's port: that connection is closed, intercept lives on and
#      the running tcpcopy keeps copying.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

lab_up
[ -x "$TC_BIN/tcpcopy" ] || fail "$TC_BIN/tcpcopy not found"
[ -x "$TC_BIN/intercept" ] || fail "$TC_BIN/intercept not found"
out="$LAB_DIR/out.txt"

# run_bounded CMD...: runs CMD (at most 20 s), sets RC and shows its output.
run_bounded() {
    RC=0
    timeout 20 "$@" >"$out" 2>&1 || RC=$?
    [ "$RC" -ne 124 ] || fail "$WHAT: still running after 20 s"
    sed 's/^/  | /' "$out" >&2
}

# (a) malformed -x
WHAT="(a) malformed -x"
run_bounded ip netns exec "$NS_ONL" "$TC_BIN/tcpcopy" -x 80-192.0.2.20 -s "$IP_AST"
assert_eq "$RC" 2 "$WHAT: exit status"
first=$(grep -v '^[[:space:]]*$' "$out" | firstn 1)
grep -q -- '-x' <<<"$first" || fail "$WHAT: the first line does not mention -x: '$first'"
nl=$(grep -cv '^[[:space:]]*$' "$out" || true)
[ "$nl" -le 2 ] || fail "$WHAT: expected a one-line message, got $nl lines"
log "ok: $WHAT: '$first'"

# (b) nothing listens at the intercept address
WHAT="(b) no intercept"
run_bounded ip netns exec "$NS_ONL" "$TC_BIN/tcpcopy" -x "80-$IP_TGT:8080" -s "$IP_AST" -c 203.0.113.x
[ "$RC" -ne 0 ] || fail "$WHAT: tcpcopy exited 0"
grep -qi 'intercept' "$out" || fail "$WHAT: no message naming the intercept"
log "ok: $WHAT: exit $RC: '$(grep -i -m1 intercept "$out")'"

# Servers and intercept for (c) and (d): (c) runs with intercept up, so that only the missing
# privilege can stop tcpcopy.
start_nginx "$NS_ONL" 80 online
ON_LOG=$NGINX_LOG
start_nginx "$NS_TGT" 8080 target
TG_LOG=$NGINX_LOG
start_intercept

# (c) without privilege: a copy of the binary that user nobody may execute.
WHAT="(c) unprivileged"
chmod 711 "$LAB_DIR"
install -d -m 755 "$LAB_DIR/nobody"
install -m 755 "$TC_BIN/tcpcopy" "$LAB_DIR/nobody/tcpcopy"
run_bounded ip netns exec "$NS_ONL" setpriv --reuid=nobody --regid=nogroup --clear-groups \
    --inh-caps=-all "$LAB_DIR/nobody/tcpcopy" -x "80-$IP_TGT:8080" -s "$IP_AST" -c 203.0.113.x
[ "$RC" -ne 0 ] || fail "$WHAT: tcpcopy exited 0 as nobody"
[ "$RC" -ne 126 ] && [ "$RC" -ne 127 ] || fail "$WHAT: could not execute the binary as nobody"
grep -Eqi 'root|CAP_NET_RAW' "$out" || fail "$WHAT: no message about root or CAP_NET_RAW"
log "ok: $WHAT: exit $RC: '$(grep -Ei -m1 'root|CAP_NET_RAW' "$out")'"

# (d) garbage on the channel port
WHAT="(d) garbage frame"
start_tcpcopy
get() { # get FIRST LAST
    on_cli timeout 60 bash -c 'for i in $(seq '"$1 $2"'); do
        curl -s -m 5 -o /dev/null "http://'"$IP_ONL"'/bad/$i" || echo "curl $i failed" >&2; done'
}
get 1 5
settle "lines $TG_LOG" 20 5 >/dev/null
assert_eq "$(lines "$TG_LOG")" 5 "$WHAT: requests reproduced before the garbage"

verdict=$(on_onl "$LAB_PY" - "$IP_AST" "$CHAN_PORT" <<'EOF2'
import os, socket, sys
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=5)
try:
    s.sendall(b"\xff" * 16 + os.urandom(2048))
    s.settimeout(5)
    while True:
        if not s.recv(65536):
            print("closed")
            break
except (ConnectionResetError, BrokenPipeError):
    print("closed")
except socket.timeout:
    print("open")
EOF2
)
assert_eq "$verdict" closed "$WHAT: intercept's answer to garbage"
sleep 0.5
kill -0 "$INTERCEPT_PID" 2>/dev/null || fail "$WHAT: intercept died"
kill -0 "$TCPCOPY_PID" 2>/dev/null || fail "$WHAT: tcpcopy died"

get 6 10
settle "lines $TG_LOG" 20 10 >/dev/null
report "$ON_LOG" "$TG_LOG"
stop_tc || fail "tcpcopy or intercept did not stop cleanly"
if ! d=$(diff <(uris "$ON_LOG") <(uris "$TG_LOG")); then
    fail "$WHAT: requests not reproduced after the garbage: $(echo "$d" | grep '^[<>]' | tr '\n' ' ')"
fi
pass "bad -x, missing intercept, no privilege, garbage frame"
