#!/usr/bin/env bash
# IPv6 with the default raw socket capture: an IPv6 rule, -c 2001:db8:3::x (ipv6_lib.sh).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/ipv6_lib.sh"

ipv6_lab_up
RESULTS=()
run_part v6raw "v6raw http://[$ON6]/" -x "$X6" -s "$IP_AST" -c 2001:db8:3::x
grep -q 'capturing with raw sockets: IPv6$' "$TCPCOPY_LOG" || fail "v6raw: no IPv6 raw socket"
share_of v6raw v6raw
from_range v6raw '^2001:db8:3::'

stop_tc || fail "intercept did not stop cleanly"
pass "${RESULTS[*]}"
