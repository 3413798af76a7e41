#!/usr/bin/env bash
# The setup doctor: the target has no route to the -c addresses via the assistant host (its
# replies follow its default route to the router). tcpcopy --check: probe_no_reply.
set -euo pipefail
. "$(dirname "$0")/check_lib.sh"

check_lab_up
ip -n "$NS_TGT" route del "$FAKE_NET"
run_tcpcopy_check
expect_finding probe_no_reply
pass "missing route: probe_no_reply"
