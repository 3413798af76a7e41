#!/usr/bin/env bash
# Offline replay of a pcapng file: the lab's eth0 recording (offline_lib.sh) rewritten as
# pcapng (SHB, IDB with if_tsresol, EPBs), replayed with --offline -I 100: every recorded
# request reproduced (same URI set).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/offline_lib.sh"

lab_up
offline_servers
offline_record
start_intercept
to_pcapng "$CAP" "$LAB_DIR/eth0.pcapng"
replay pcapng --offline -i "$LAB_DIR/eth0.pcapng" -I 100
[ "$RP_RC" -eq 0 ] || fail "replay of the pcapng file: exit $RP_RC"
same_uris pcapng
offline_stop
pass "recorded $N_REC requests ($NPKT packets): all reproduced from the pcapng file"
