#!/usr/bin/env bash
# IPv6 with --pcap-capture -i eth0: an IPv6 rule, -c 2001:db8:3::x (ipv6_lib.sh).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/ipv6_lib.sh"

ipv6_lab_up
RESULTS=()
run_part v6pcap "v6pcap http://[$ON6]/" -x "$X6" -s "$IP_AST" -c 2001:db8:3::x \
    --pcap-capture -i eth0
! grep -q 'copies nothing' "$TCPCOPY_LOG" || fail "v6pcap: a rule reported as copying nothing"
share_of v6pcap v6pcap
from_range v6pcap '^2001:db8:3::'

stop_tc || fail "intercept did not stop cleanly"
pass "${RESULTS[*]}"
