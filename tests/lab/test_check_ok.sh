#!/usr/bin/env bash
# The setup doctor on a correct lab: tcpcopy --check (capture, routes, intercept, a probe
# session answered and reported) and intercept --check find nothing and exit 0.
set -euo pipefail
. "$(dirname "$0")/check_lib.sh"

check_lab_up
run_tcpcopy_check
expect_clean
# The probe sessions were closed with RST: the target holds nothing from the -c range.
left=$(on_tgt ss -Htan '( sport = :8080 )' | grep -c '203\.0\.113\.' || true)
assert_eq "$left" 0 "probe sessions left on the target"
pass "no finding, exit 0"
