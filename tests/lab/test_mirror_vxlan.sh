#!/usr/bin/env bash
# tcpcopy off the production server, fed by a cloud-style traffic mirror: the online host's
# ingress frames arrive at the mirror host (192.0.2.41) inside VXLAN (UDP 4789, as AWS VPC
# Traffic Mirroring sends them). The mirror host has no tunnel device: tcpcopy --decap vxlan
# captures the outer packets on its own eth0 and copies the frames inside. Every request
# served online must reach the target, and the outer packets tcpcopy saw must all have
# been decapsulated.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/impair.sh"
. "$(dirname "$0")/mirror_lib.sh"

lab_up
mirror_host 1
vxlan_mirror 1
start_http_servers
NS_TCPCOPY=${MIRROR_NS[1]} start_tcpcopy -x "$IP_ONL:80-$IP_TGT:8080" -s "$IP_AST" \
    -c 203.0.113.x -i eth0 --decap vxlan

TOTAL=${TOTAL:-20000}
wrk_count mv 10 "$TOTAL" "http://$IP_ONL/"
settle "lines $TG_LOG" 60 "$(lines "$ON_LOG")" >/dev/null
report "$ON_LOG" "$TG_LOG"
compare_uris "$ON_LOG" "$TG_LOG"
stop_tc || fail "tcpcopy or intercept did not stop cleanly"
undecap=$(stat_sum "$(stats_file "$TCPCOPY_LOG")" capture.not_decapsulated.link \
    capture.not_decapsulated.ip capture.not_decapsulated.fragment capture.not_decapsulated.other \
    capture.not_decapsulated.tunnel)
assert_eq "$undecap" 0 "captured packets not decapsulated"
assert_eq "$N_TARGET" "$N_ONLINE" "requests reproduced on the target"
assert_eq "$URI_MISSING" 0 "URIs missing on the target"
assert_eq "$URI_EXTRA" 0 "URIs on the target never served online"
pass "VXLAN mirror: $N_TARGET/$N_ONLINE requests copied from the mirror host"
