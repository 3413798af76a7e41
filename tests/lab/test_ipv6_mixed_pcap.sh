#!/usr/bin/env bash
# IPv4 and IPv6 rules in one tcpcopy with --pcap-capture -i eth0 (as test_ipv6_mixed.sh).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/ipv6_lib.sh"

ipv6_lab_up
RESULTS=()
# The same rules with libpcap: the IPv4 any-address rule's filter clause lets IPv6 packets to
# port 80 through, and the rule must still leave them to the IPv6 rule.
run_part mixedpcap "pmix4 http://$IP_ONL/
pmix6 http://[$ON6]/" -x "$XMIX" -s "$IP_AST" -c 203.0.113.x,2001:db8:3::x --pcap-capture -i eth0
share_of mixedpcap pmix4
share_of mixedpcap pmix6
from_range pmix4 '^203\.0\.113\.'
from_range pmix6 '^2001:db8:3::'

stop_tc || fail "intercept did not stop cleanly"
pass "${RESULTS[*]}"
