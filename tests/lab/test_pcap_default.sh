#!/usr/bin/env bash
# --pcap-capture -i eth0 with the default filter built from -x, at full rate: 100% copied, no
# kernel drop at the default -B, and the filter is the one expected (pcap_modes_lib.sh).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/pcap_modes_lib.sh"

lab_up
start_http_servers
run_mode pcapdef --pcap-capture -i eth0
grep -q 'filter: ((tcp and dst port 80)) and not (dst host 192.0.2.20 and dst port 8080)' \
    "$TCPCOPY_LOG" || fail "pcapdef: the default filter is not the one expected"
stop_tc || fail "intercept did not stop cleanly"
pass "$RESULT"
