#!/usr/bin/env bash
# The control of test_module_example.sh: the same kind of load (requests for /tok/C/I) without
# --module reaches the target unchanged, so the rewriting seen there is the module's.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/module_lib.sh"

CONNS=2 REQS=5
N=$((CONNS * REQS))
module_lab
module_tcpcopy
curl_keepalive "$CONNS" "$REQS" "http://$IP_ONL/tok" 60
settle "lines $TG/requests.log" 60 "$N" >/dev/null
plain=$(module_unrewritten "$TG/requests.log")
stop_tc || fail "tcpcopy or intercept did not stop cleanly"
assert_eq "$plain" "$N" "requests unchanged on the target without --module"
pass "without --module: $plain/$N requests unchanged on the target"
