#!/usr/bin/env bash
# The setup doctor: IP forwarding on the assistant host (the target's replies would be passed
# on toward the clients they are addressed to). intercept --check: ip_forward_on.
set -euo pipefail
. "$(dirname "$0")/check_lib.sh"

check_lab_up no-intercept
on_ast sysctl -qw net.ipv4.ip_forward=1
run_check intercept "$NS_AST" -i eth0 -F 'tcp and src port 8080' --check-target "$IP_TGT:8080"
expect_finding ip_forward_on
pass "ip_forward on: ip_forward_on"
