#!/usr/bin/env bash
# The setup doctor: nothing listens on the target port. tcpcopy --check: target_port_closed
# (intercept reports the target's RST to the probe).
set -euo pipefail
. "$(dirname "$0")/check_lib.sh"

check_lab_up no-target
run_tcpcopy_check
expect_finding target_port_closed
pass "closed port: target_port_closed"
