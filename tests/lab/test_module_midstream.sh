#!/usr/bin/env bash
# Sessions seen mid-stream through the example module: 5 keep-alive connections make 3 requests
# before tcpcopy starts and 10 after (20 ms apart). Each is copied from its first request
# boundary after the start (the first request seen only shows where the client is), so at
# least 8 of its 10 later requests reach the target, all rewritten, and none of the earlier.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/module_lib.sh"

CONNS=5 BEFORE=3 AFTER=10
module_lab
cat >"$LAB_DIR/midclient.py" <<'PY'
import http.client, os, sys, time
host, conns, before, after, flag = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
cs = [http.client.HTTPConnection(host, 80, timeout=10) for _ in range(conns)]
def req(i, j):
    cs[i].request("GET", "/tok/mid%d/%d" % (i, j))
    cs[i].getresponse().read()
for j in range(before):
    for i in range(conns):
        req(i, j)
open(flag + ".ready", "w").close()
for _ in range(300):
    if os.path.exists(flag):
        break
    time.sleep(0.1)
for j in range(before, before + after):
    for i in range(conns):
        req(i, j)
    time.sleep(0.02)
PY
on_cli timeout 60 "$LAB_PY" "$LAB_DIR/midclient.py" "$IP_ONL" "$CONNS" "$BEFORE" "$AFTER" \
    "$LAB_DIR/midflag" >"$LAB_DIR/midclient.out" 2>&1 &
MID_PID=$!
lab_track "$MID_PID"
wait_until "[ -e $LAB_DIR/midflag.ready ]" 30 || fail "the mid-stream client did not connect"
module_tcpcopy --module "$MOD"
touch "$LAB_DIR/midflag"
wait "$MID_PID" || fail "mid-stream client: $(cat "$LAB_DIR/midclient.out")"
settle "lines $TG/requests.log" 30 "$((CONNS * (AFTER - 1)))" >/dev/null
total=$(lines "$TG/requests.log")
later=$(awk -v b="$BEFORE" '$4 ~ /^\/token-rewritten\/mid[0-9]+\/[0-9]+$/ {
    split($4, f, "/"); if (f[4] + 0 >= b) n++ } END { print n + 0 }' "$TG/requests.log")
stop_tc || fail "tcpcopy or intercept did not stop cleanly"
mid=$(tc_stat sessions.events.midstream)
log "mid-stream: $total requests on the target ($later rewritten later ones), $mid sessions started mid-stream"
assert_eq "$mid" "$CONNS" "sessions started mid-stream"
assert_eq "$(tc_stat module.sessions.taken)" "$CONNS" "mid-stream sessions the module took"
assert_eq "$later" "$total" "requests on the target that are later ones, rewritten"
assert_ge "$total" "$((CONNS * (AFTER - 2)))" "requests after tcpcopy started reproduced"
pass "mid-stream: $total of $((CONNS * AFTER)) later requests on the target, all rewritten"
