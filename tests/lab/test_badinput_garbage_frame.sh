#!/usr/bin/env bash
# Hostile channel input must not take intercept or a running copy down: a garbage frame on
# intercept's port gets that connection closed; intercept lives on and the running tcpcopy
# keeps copying (5 curls before, 5 after, all reproduced). The channel fuzzed in depth:
# test_chan_security_fuzz.sh.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/badinput_lib.sh"

lab_up
[ -x "$TC_BIN/tcpcopy" ] || fail "$TC_BIN/tcpcopy not found"
[ -x "$TC_BIN/intercept" ] || fail "$TC_BIN/intercept not found"
badinput_servers
WHAT="garbage frame"
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
pass "$WHAT: connection closed, intercept and tcpcopy alive, $N_TARGET/$N_ONLINE requests reproduced"
