#!/usr/bin/env bash
# The setup doctor: intercept's -F filter misses the target's port (8081 for a target on
# 8080). intercept --check: filter_misses_target, for a target given with --check-target and
# for one learned from a tcpcopy peer during --check-wait.
set -euo pipefail
. "$(dirname "$0")/check_lib.sh"

check_lab_up no-intercept
run_check intercept "$NS_AST" -i eth0 -F 'tcp and src port 8081' --check-target "$IP_TGT:8080"
expect_finding filter_misses_target
run_intercept_check_with_peer 10 -i eth0 -F 'tcp and src port 8081'
expect_finding filter_misses_target
grep -q '"id":"peer","level":"ok"' "$CHECK_JSON" || fail "the peer is not reported"
pass "filter on the wrong port: filter_misses_target (given and learned)"
