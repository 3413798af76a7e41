#!/usr/bin/env bash
# The setup doctor on a correct lab: tcpcopy --check (capture, routes, intercept, a probe
# session answered and reported) and intercept --check (with tcpcopy as its peer) find nothing
# and exit 0.
set -euo pipefail
. "$(dirname "$0")/check_lib.sh"

check_lab_up
run_tcpcopy_check
expect_clean
# The probe sessions were closed with RST: the target holds nothing from the -c range.
left=$(on_tgt ss -Htan '( sport = :8080 )' | grep -c '203\.0\.113\.' || true)
assert_eq "$left" 0 "probe sessions left on the target"

# intercept --check on the same lab: the running intercept is stopped (its port is needed for
# the peer window); tcpcopy --check connects, and the target of its probe route is learned.
_tc_stop_one "$INTERCEPT_PID" intercept "$INTERCEPT_LOG" || fail "intercept did not stop cleanly"
INTERCEPT_PID=""
run_intercept_check_with_peer 10 -i eth0 -F 'tcp and src port 8080'
expect_clean
grep -q '"id":"filter","level":"ok","message":"-F .* matches the replies of 192.0.2.20:8080"' \
    "$CHECK_JSON" || fail "the learned target was not tried on the filter"
pass "no finding, exit 0 (tcpcopy and intercept)"
