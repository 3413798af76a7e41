#!/usr/bin/env bash
# The example protocol module (examples/module/tcm_token.c, loaded with --module PATH.so):
# 10 keep-alive connections x 20 requests for /tok/C/I through the online server (a recorder).
# The target's recorder must see every request, each with "tok" rewritten to the longer
# "token-rewritten" (the engine keeps the sequence offset: 12 bytes more per request), none
# lost, and tcpcopy's module counters must agree. (test_module_off.sh: the same load without
# the module reaches the target unchanged.)
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/module_lib.sh"

CONNS=10 REQS=20
N=$((CONNS * REQS))
module_lab
module_tcpcopy --module "$MOD"
log "$CONNS connections x $REQS requests for /tok/C/I"
curl_keepalive "$CONNS" "$REQS" "http://$IP_ONL/tok" 60
assert_eq "$(lines "$ON/requests.log")" "$N" "requests recorded online"
settle "lines $TG/requests.log" 60 "$N" >/dev/null
report "$ON/requests.log" "$TG/requests.log"
want=$(uris "$ON/requests.log" | sed 's#^/tok/#/token-rewritten/#' | LC_ALL=C sort | md5sum)
got=$(uris "$TG/requests.log" | md5sum)
unchanged=$(module_unrewritten "$TG/requests.log")
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
pass "module: $N_TARGET/$N requests on the target, all rewritten ($((tout - cin)) bytes added)"
