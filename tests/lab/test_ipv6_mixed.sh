#!/usr/bin/env bash
# IPv4 and IPv6 rules in one tcpcopy, raw capture: -x 80-192.0.2.20:8080,[2001:db8:1::10]:80-
# [2001:db8:1::20]:8080 (an any-address IPv4 rule first: it must not take the IPv6 packets) and
# -c 203.0.113.x,2001:db8:3::x, IPv4 and IPv6 loads at once; each family reaches the target from
# its own -c range (ipv6_lib.sh).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/ipv6_lib.sh"

ipv6_lab_up
RESULTS=()
run_part mixed "mix4 http://$IP_ONL/
mix6 http://[$ON6]/" -x "$XMIX" -s "$IP_AST" -c 203.0.113.x,2001:db8:3::x
grep -q 'capturing with raw sockets: IPv4 IPv6$' "$TCPCOPY_LOG" || fail "mixed: not both raw sockets"
grep -q 'copying port 80 (any IPv4 address)' "$TCPCOPY_LOG" || fail "mixed: the any-address rule's family is not logged"
share_of mixed mix4
share_of mixed mix6
from_range mix4 '^203\.0\.113\.'
from_range mix6 '^2001:db8:3::'

stop_tc || fail "intercept did not stop cleanly"
pass "${RESULTS[*]}"
