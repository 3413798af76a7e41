#!/usr/bin/env bash
# Offline replay accelerated: a lab recording (offline_lib.sh) replayed with -a 10: every
# recorded request reproduced (same URI set), about 10x faster than the capture lasted (5x-20x).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/offline_lib.sh"

lab_up
offline_servers
offline_record
start_intercept
replay accel10 -i "$CAP" -a 10
[ "$RP_RC" -eq 0 ] || fail "replay -a 10: exit $RP_RC"
same_uris accel10
SPEEDUP=$(awk -v s="$SPAN" -v r="$RP_TIME" 'BEGIN { if (r <= 0) print 0; else printf "%.1f", s / r }')
log "-a 10: capture $SPAN s, replay $RP_TIME s: speed-up x$SPEEDUP"
assert_ge "$SPEEDUP" 5 "speed-up with -a 10"
awk -v x="$SPEEDUP" 'BEGIN { exit !(x <= 20) }' || fail "speed-up with -a 10 is $SPEEDUP, above 20"
offline_stop
pass "recorded $N_REC requests ($NPKT packets, $SPAN s): all reproduced with -a 10 (x$SPEEDUP)"
