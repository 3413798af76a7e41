#!/usr/bin/env bash
# tcpcopy --compare over IPv6 with the default capture (one packet socket for the requests
# and the answers): the scenario of test_compare_http.sh with an IPv6 rule and -c
# 2001:db8:3::x; every request compared, exactly the known ones reported (compare_lib.sh).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/compare_lib.sh"
COMPARE_V6=1 compare_run
