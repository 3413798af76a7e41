#!/usr/bin/env bash
# The setup doctor: an nftables OUTPUT rule on the online host drops what conntrack calls
# invalid. tcpcopy's SYN leaves, but its handshake ACK follows a SYN-ACK this host never saw
# (the target sends it to the assistant host), so conntrack marks it invalid and it is dropped.
# tcpcopy --check: send_blocked (the probe's ACK refused with EPERM).
set -euo pipefail
. "$(dirname "$0")/check_lib.sh"

check_lab_up
on_onl nft -f - <<NFT
table inet tccheck {
    chain out {
        type filter hook output priority 0; policy accept;
        ct state invalid drop
    }
}
NFT
run_tcpcopy_check
expect_finding send_blocked
grep -q 'conntrack' "$CHECK_JSON" || fail "the finding does not name conntrack"
# The closing RST is not invalid to conntrack: the target holds nothing of the probe.
left=$(on_tgt ss -Htan '( sport = :8080 )' | grep -c '203\.0\.113\.' || true)
assert_eq "$left" 0 "probe sessions left on the target"
pass "ct state invalid drop: send_blocked"
