#!/usr/bin/env bash
# Trouble on the reply path: nft drops 1% of the target's packets to the fake clients as they
# leave it (so assist, and through it tcpcopy, never sees them; the target retransmits).
# wrk -t1 -c10, TOTAL requests (40,000) with a distinct URI each: every request served online
# must be reproduced on the target (same count, same multiset of URIs).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/impair.sh"

lab_up
nft_loss_reply 10
start_http_copy

wrk_count lr 10 "${TOTAL:-40000}" "http://$IP_ONL/"
assert_ge "$(lines "$ON_LOG")" "${TOTAL:-40000}" "requests served online"

# Every loss stalls its session for a retransmission timeout (200 ms and more, on tcpcopy's
# side for the copy path, on the target's for the reply path), so the replay can lag wrk by
# many seconds: wait until the target has every request, or its log stands still for 10 s.
t0=$SECONDS
settle "lines $TG_LOG" "${SETTLE_MAX:-150}" "$(lines "$ON_LOG")" >/dev/null
log "the target settled $((SECONDS - t0)) s after wrk"
report "$ON_LOG" "$TG_LOG"
compare_uris "$ON_LOG" "$TG_LOG"
nft_report
stopped=0
stop_tc || stopped=1
if [ "$N_TARGET" != "$N_ONLINE" ] || [ "$URI_MISSING" -ne 0 ] || [ "$URI_EXTRA" -ne 0 ]; then
    echo "---- tcpcopy warnings ----"
    tcpcopy_warnings
fi
assert_eq "$N_TARGET" "$N_ONLINE" "requests reproduced on the target"
assert_eq "$URI_MISSING" 0 "URIs missing on the target"
assert_eq "$URI_EXTRA" 0 "URIs on the target never served online"
[ "$stopped" -eq 0 ] || fail "tcpcopy or intercept did not stop cleanly"
pass "ratio $RATIO ($N_TARGET/$N_ONLINE), nft dropped $(nft_dropped tclab_loss_reply) replies"
