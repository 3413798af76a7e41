#!/usr/bin/env bash
# The example protocol module (examples/module/tcm_token.c, loaded with --module PATH.so):
# 10 keep-alive connections x 20 requests for /tok/C/I through the online server (a recorder).
# The target's recorder must see every request, each with "tok" rewritten to the longer
# "token-rewritten" (the engine keeps the sequence offset: 12 bytes more per request), none
# lost, and tcpcopy's module counters must agree. Then connections busy before tcpcopy starts
# (sessions seen mid-stream, through the module too), and the same load without the module: the
# target sees the client's bytes unchanged (the test can fail).
set -euo pipefail
. "$(dirname "$0")/lib.sh"

CONNS=10 REQS=20
N=$((CONNS * REQS))
MOD="$TC_BIN/tcm_token.so"
[ -f "$MOD" ] || fail "$MOD not built"
lab_up
start_recorder "$NS_ONL" 0.0.0.0 80 online-mod
ON=$REC_DIR
start_recorder "$NS_TGT" 0.0.0.0 8080 target-mod
TG=$REC_DIR
start_intercept
start_tcpcopy -x 80-192.0.2.20:8080 -s 192.0.2.30 -c 203.0.113.x --module "$MOD"

log "$CONNS connections x $REQS requests for /tok/C/I"
curl_keepalive "$CONNS" "$REQS" "http://$IP_ONL/tok" 60
assert_eq "$(lines "$ON/requests.log")" "$N" "requests recorded online"
settle "lines $TG/requests.log" 60 "$N" >/dev/null
report "$ON/requests.log" "$TG/requests.log"
want=$(uris "$ON/requests.log" | sed 's#^/tok/#/token-rewritten/#' | LC_ALL=C sort | md5sum)
got=$(uris "$TG/requests.log" | md5sum)
unchanged=$(awk '$4 ~ /^\/tok\// { n++ } END { print n + 0 }' "$TG/requests.log")
stop_tc || fail "tcpcopy or intercept did not stop cleanly"
taken=$(tc_stat module.sessions.taken)
failed=$(tc_stat module.sessions.failed)
cin=$(tc_stat module.bytes.client_in)
tout=$(tc_stat module.bytes.target_out)
log "module: sessions $taken, failed $failed, client bytes $cin, target bytes $tout"
assert_eq "$N_TARGET" "$N" "requests reproduced on the target"
assert_eq "$unchanged" 0 "requests on the target whose token was not rewritten"
assert_eq "$got" "$want" "the target's URIs (the online ones, rewritten)"
assert_eq "$taken" "$CONNS" "sessions the module took"
assert_eq "$failed" 0 "sessions the module failed"
assert_eq "$((tout - cin))" "$((12 * N))" "bytes the rewriting added"

# Sessions seen mid-stream: 5 keep-alive connections make 3 requests before tcpcopy starts and
# 10 after (20 ms apart). Each is copied from its first request boundary after the start (the
# first request seen only shows where the client is): at least 8 of the 10, all rewritten.
MCONNS=5 BEFORE=3 AFTER=10
: >"$TG/requests.log"
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
on_cli timeout 60 "$LAB_PY" "$LAB_DIR/midclient.py" "$IP_ONL" "$MCONNS" "$BEFORE" "$AFTER" \
    "$LAB_DIR/midflag" >"$LAB_DIR/midclient.out" 2>&1 &
MID_PID=$!
lab_track "$MID_PID"
wait_until "[ -e $LAB_DIR/midflag.ready ]" 30 || fail "the mid-stream client did not connect"
start_intercept
start_tcpcopy -x 80-192.0.2.20:8080 -s 192.0.2.30 -c 203.0.113.x --module "$MOD"
touch "$LAB_DIR/midflag"
wait "$MID_PID" || fail "mid-stream client: $(cat "$LAB_DIR/midclient.out")"
settle "lines $TG/requests.log" 30 "$((MCONNS * (AFTER - 1)))" >/dev/null
mid_total=$(lines "$TG/requests.log")
mid_rewritten=$(awk '$4 ~ /^\/token-rewritten\/mid[0-9]+\/([3-9]|1[0-2])$/ { n++ } END { print n + 0 }' "$TG/requests.log")
stop_tc || fail "tcpcopy or intercept did not stop cleanly"
mid_sessions=$(tc_stat sessions.events.midstream)
log "mid-stream: $mid_total requests on the target ($mid_rewritten rewritten, of the later ones), $mid_sessions sessions started mid-stream"
assert_eq "$mid_sessions" "$MCONNS" "sessions started mid-stream"
assert_eq "$(tc_stat module.sessions.taken)" "$MCONNS" "mid-stream sessions the module took"
assert_eq "$mid_rewritten" "$mid_total" "requests on the target that are later ones, rewritten"
assert_ge "$mid_total" "$((MCONNS * (AFTER - 2)))" "requests after tcpcopy started reproduced"

# Without the module the same load reaches the target unchanged.
: >"$TG/requests.log"
: >"$ON/requests.log"
start_intercept
start_tcpcopy -x 80-192.0.2.20:8080 -s 192.0.2.30 -c 203.0.113.x
curl_keepalive 2 5 "http://$IP_ONL/tok" 60
settle "lines $TG/requests.log" 60 10 >/dev/null
plain=$(awk '$4 ~ /^\/tok\// { n++ } END { print n + 0 }' "$TG/requests.log")
stop_tc || fail "tcpcopy or intercept did not stop cleanly"
assert_eq "$plain" 10 "requests unchanged on the target without --module"
pass "module: $N_TARGET/$N requests on the target, all rewritten ($((tout - cin)) bytes added)"
