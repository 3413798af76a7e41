# shellcheck shell=bash
# What test_loss_copy.sh and test_loss_reply.sh share: once the lab is up, the trouble in
# place and tcpcopy started, loss_load_and_check TAG runs wrk -c10 for TOTAL requests (40,000)
# with a distinct URI each, waits for the replay, and asserts that every request served
# online was reproduced on the target (same count, same multiset of URIs). Sets RATIO,
# N_ONLINE and N_TARGET for the caller's pass line.

loss_load_and_check() {
    local tag=$1 total=${TOTAL:-40000} t0 stopped=0
    wrk_count "$tag" 10 "$total" "http://$IP_ONL/"
    assert_ge "$(lines "$ON_LOG")" "$total" "requests served online"
    # Every loss stalls its session for a retransmission timeout (50 ms and more, on
    # tcpcopy's side for the copy path, on the target's for the reply path), so the replay
    # can lag wrk by seconds: wait until the target has every request, or its log stands
    # still for 10 s.
    t0=$SECONDS
    settle "lines $TG_LOG" "${SETTLE_MAX:-150}" "$(lines "$ON_LOG")" >/dev/null
    log "the target settled $((SECONDS - t0)) s after wrk"
    report "$ON_LOG" "$TG_LOG"
    compare_uris "$ON_LOG" "$TG_LOG"
    nft_report
    stop_tc || stopped=1
    if [ "$N_TARGET" != "$N_ONLINE" ] || [ "$URI_MISSING" -ne 0 ] || [ "$URI_EXTRA" -ne 0 ]; then
        echo "---- tcpcopy warnings ----"
        tcpcopy_warnings
    fi
    assert_eq "$N_TARGET" "$N_ONLINE" "requests reproduced on the target"
    assert_eq "$URI_MISSING" 0 "URIs missing on the target"
    assert_eq "$URI_EXTRA" 0 "URIs on the target never served online"
    [ "$stopped" -eq 0 ] || fail "tcpcopy or intercept did not stop cleanly"
}
