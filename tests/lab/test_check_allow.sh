#!/usr/bin/env bash
# The setup doctor: intercept --allow admits another host, not the online host. tcpcopy --check:
# intercept_not_allowed (intercept's BYE code 5).
set -euo pipefail
. "$(dirname "$0")/check_lib.sh"

check_lab_up -i eth0 -F 'tcp and src port 8080' --allow 192.0.2.20/32
run_tcpcopy_check
expect_finding intercept_not_allowed
pass "--allow: intercept_not_allowed"
