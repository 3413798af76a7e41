#!/usr/bin/env bash
# --pcap-capture -i eth0 with an explicit -F filter, at full rate: 100% copied, no kernel drop
# at the default -B (pcap_modes_lib.sh).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/pcap_modes_lib.sh"

lab_up
start_http_servers
run_mode pcapflt --pcap-capture -i eth0 -F 'tcp and dst port 80 and dst host 192.0.2.10'
stop_tc || fail "intercept did not stop cleanly"
pass "$RESULT"
