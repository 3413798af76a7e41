#!/usr/bin/env bash
# The setup doctor: strict rp_filter on the target, whose route to the -c addresses leaves by
# another interface (a second link to the assistant host): the copies from 203.0.113.x arrive on
# eth0 and are dropped. tcpcopy --check: probe_no_reply (the target accepts this host's own
# connections, but intercept sees no reply to the probe). From the online host this cannot be
# told apart from a missing route: the finding's fix names both.
set -euo pipefail
. "$(dirname "$0")/check_lib.sh"

check_lab_up no-intercept
_lab_veth "$NS_TGT" eth1 "$NS_AST" eth1
ip -n "$NS_TGT" route replace "$FAKE_NET" via "$IP_AST" dev eth1 onlink
start_intercept -i eth0,eth1 -F 'tcp and src port 8080'
# The control: with loose rp_filter the same topology works end to end.
on_tgt sysctl -qw net.ipv4.conf.all.rp_filter=2 net.ipv4.conf.eth0.rp_filter=2
run_tcpcopy_check
expect_clean
on_tgt sysctl -qw net.ipv4.conf.all.rp_filter=1 net.ipv4.conf.eth0.rp_filter=1
run_tcpcopy_check
expect_finding probe_no_reply
pass "loose rp_filter: clean; strict: probe_no_reply"
