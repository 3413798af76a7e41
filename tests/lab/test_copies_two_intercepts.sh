#!/usr/bin/env bash
# -n 3 with two intercepts (-s assist,target; the second captures the replies as they leave
# the target): wrk -t1 -c10, 6,000 requests, each on the target exactly 3 times.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/copies_lib.sh"

lab_up
start_http_servers
ICPT1_PID=$INTERCEPT_PID
NS_INTERCEPT=$NS_TGT INTERCEPT_NAME=intercept-tgt start_intercept -i eth0 -F 'tcp and src port 8080'
ICPT2_PID=$INTERCEPT_PID ICPT2_LOG=$INTERCEPT_LOG
INTERCEPT_PID=$ICPT1_PID
start_tcpcopy -x "80-$IP_TGT:8080" -s "$IP_AST,$IP_TGT" -c 203.0.113.x -n 3
wait_until "grep -q 'tcpcopy connected' $ICPT2_LOG" 5 || fail "tcpcopy did not connect to the second intercept"
wrk_count nb 10 6000 "http://$IP_ONL/"
n=$(grep -c ' /nb/' "$ON_LOG")
settle "grep -c ' /nb/' $TG_LOG" 60 "$((n * 3))" >/dev/null
stop_copy two_intercepts
read -r uris bad <<<"$(copies_of nb 3)"
assert_eq "$uris" "$n" "requests on the target (distinct)"
assert_eq "$bad" 0 "requests not copied exactly 3 times"
_tc_stop_one "$ICPT2_PID" intercept-tgt "$ICPT2_LOG" || fail "the second intercept did not stop cleanly"
stop_tc || fail "intercept did not stop cleanly"
pass "-n 3 with two intercepts: $uris x 3"
