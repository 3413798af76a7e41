#!/usr/bin/env bash
# tcpcopy off the production server, fed by a switch mirror port: the online host's ingress
# frames are mirrored (tc mirred) to a veth whose other end is on the mirror host
# (192.0.2.41), where tcpcopy captures them with libpcap in promiscuous mode. Nothing of
# tcpcopy runs on the online host. Every request served online must reach the target.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/impair.sh"
. "$(dirname "$0")/mirror_lib.sh"

lab_up
mirror_host 1
span_ports 1
start_http_servers
NS_TCPCOPY=${MIRROR_NS[1]} start_tcpcopy -x "$IP_ONL:80-$IP_TGT:8080" -s "$IP_AST" \
    -c 203.0.113.x -i span0 --promisc

TOTAL=${TOTAL:-20000}
wrk_count ms 10 "$TOTAL" "http://$IP_ONL/"
settle "lines $TG_LOG" 60 "$(lines "$ON_LOG")" >/dev/null
report "$ON_LOG" "$TG_LOG"
compare_uris "$ON_LOG" "$TG_LOG"
assert_eq "$(ip netns identify "$TCPCOPY_PID")" "${MIRROR_NS[1]}" "tcpcopy's network namespace"
stop_tc || fail "tcpcopy or intercept did not stop cleanly"
assert_eq "$N_TARGET" "$N_ONLINE" "requests reproduced on the target"
assert_eq "$URI_MISSING" 0 "URIs missing on the target"
assert_eq "$URI_EXTRA" 0 "URIs on the target never served online"
pass "mirror port: $N_TARGET/$N_ONLINE requests copied from the mirror host"
