#!/usr/bin/env bash
# The setup doctor over IPv6: a correct IPv6 setup (-x [online]:80-[target]:8080, -c from
# 2001:db8:3::/64) is clean, the probe answered from 2001:db8:3::/64; with the target's IPv6
# route to that range removed: probe_no_reply.
set -euo pipefail
. "$(dirname "$0")/check_lib.sh"

ARGS6=(-x '[2001:db8:1::10]:80-[2001:db8:1::20]:8080' -s 192.0.2.30 -c '2001:db8:3::x' --check-wait 5)
load6() {
    on_cli timeout 60 bash -c "for i in \$(seq 1 400); do curl -g -s -m 2 'http://[2001:db8:1::10]/v6/'\$i >/dev/null; sleep 0.1; done" &
    lab_track $!
}
check_lab_up
load6
run_check tcpcopy "$NS_ONL" "${ARGS6[@]}"
expect_clean
grep -qF '"id":"probe","level":"ok","message":"probe [2001:db8:3::' "$CHECK_JSON" ||
    fail "no IPv6 probe answered"
ip -n "$NS_TGT" -6 route del 2001:db8:3::/64
run_check tcpcopy "$NS_ONL" "${ARGS6[@]}"
expect_finding probe_no_reply
pass "IPv6: clean, then probe_no_reply without the route"
