#!/usr/bin/env bash
# Offline replay of a Linux cooked capture: the lab's recording on "any" (offline_lib.sh; link
# type SLL or SLL2) replayed with -I 100: every recorded request reproduced (same URI set).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/offline_lib.sh"

lab_up
offline_servers
offline_record
start_intercept
replay sll -i "$CAP_ANY" -I 100
[ "$RP_RC" -eq 0 ] || fail "replay of the SLL capture: exit $RP_RC"
same_uris sll
offline_stop
pass "recorded $N_REC requests ($NPKT_ANY packets, link type $LT_ANY): all reproduced from the cooked capture"
