#!/usr/bin/env bash
# Offline replay at the recorded pace: a lab recording (tcpdump on eth0, offline_lib.sh)
# replayed by tcpcopy -i FILE: every recorded request reproduced (same URI set), and the replay
# lasts at least 90% of the time the capture spans.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/offline_lib.sh"

lab_up
offline_servers
offline_record
start_intercept
replay pace -i "$CAP"
[ "$RP_RC" -eq 0 ] || fail "replay at the recorded pace: exit $RP_RC"
same_uris pace
# At the recorded pace, the replay lasts about as long as the capture.
assert_ge "$RP_TIME" "$(awk -v s="$SPAN" 'BEGIN { print s * 0.9 }')" "replay time at 1x vs capture span $SPAN s"
offline_stop
pass "recorded $N_REC requests ($NPKT packets, $SPAN s): all reproduced at 1x in $RP_TIME s"
