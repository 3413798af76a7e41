#!/usr/bin/env bash
# The setup doctor: an nftables OUTPUT rule on the online host drops packets from the -c
# addresses. tcpcopy --check: send_blocked (the kernel refuses the probe's SYN with EPERM).
set -euo pipefail
. "$(dirname "$0")/check_lib.sh"

check_lab_up
on_onl nft -f - <<NFT
table inet tccheck {
    chain out {
        type filter hook output priority 0; policy accept;
        ip saddr $FAKE_NET drop
    }
}
NFT
run_tcpcopy_check
expect_finding send_blocked
pass "OUTPUT drop: send_blocked"
