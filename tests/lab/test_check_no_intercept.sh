#!/usr/bin/env bash
# The setup doctor: intercept is not running on the assistant host. tcpcopy --check:
# intercept_not_running (connection refused), and no probe is attempted.
set -euo pipefail
. "$(dirname "$0")/check_lib.sh"

check_lab_up no-intercept
run_tcpcopy_check
expect_finding intercept_not_running
pass "no intercept: intercept_not_running"
