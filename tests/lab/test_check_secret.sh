#!/usr/bin/env bash
# The setup doctor: tcpcopy and intercept have different secrets. tcpcopy --check:
# intercept_secret (intercept's proof does not match ours).
set -euo pipefail
. "$(dirname "$0")/check_lib.sh"

check_lab_up no-intercept
printf 'one secret\n' >"$LAB_DIR/secret.icpt"
printf 'another secret\n' >"$LAB_DIR/secret.tc"
chmod 600 "$LAB_DIR/secret.icpt" "$LAB_DIR/secret.tc"
start_intercept -i eth0 -F 'tcp and src port 8080' --secret-file "$LAB_DIR/secret.icpt"
run_tcpcopy_check --secret-file "$LAB_DIR/secret.tc"
expect_finding intercept_secret
pass "wrong secret: intercept_secret"
