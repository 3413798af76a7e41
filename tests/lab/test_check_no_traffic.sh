#!/usr/bin/env bash
# The setup doctor: no client uses the -x port while the check runs. tcpcopy --check:
# capture_no_traffic (the rest of the path, probe included, works).
set -euo pipefail
. "$(dirname "$0")/check_lib.sh"

check_lab_up
CHECK_WAIT=2
log "no client load"
run_check tcpcopy "$NS_ONL" "${TCPCOPY_ARGS_DEFAULT[@]}" --check-wait "$CHECK_WAIT"
expect_finding capture_no_traffic
pass "no traffic: capture_no_traffic"
