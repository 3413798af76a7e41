# shellcheck shell=bash
# What the libpcap-mode scenarios share (test_pcap_default, test_pcap_filter, test_pcap_send):
# tcpcopy's libpcap capture and link-layer send at full rate. Each mode gets a load bounded by
# count, not time (wrk -t1 -c10 from the client, 30,000 requests with unique URIs, as fast as
# this machine serves them), must reproduce 100% of it on the target, and tcpcopy's final
# counters must show no packet dropped by the kernel at the default -B (a drop there means the
# default ring is too small for this load). PCAP_MODES_REQUESTS changes the count.

REQUESTS=${PCAP_MODES_REQUESTS:-30000}

# run_mode NAME ARGS...: the lab and servers up, tcpcopy with ARGS, the load, then the
# comparison of the requests and tcpcopy's kernel drops. RESULT holds "NAME hit/served".
run_mode() {
    local name=$1 goal drops
    shift
    start_tcpcopy "${TCPCOPY_ARGS_DEFAULT[@]}" "$@"
    wrk_count "$name" 10 "$REQUESTS" "http://$IP_ONL/"
    assert_ge "$WRK_ANSWERED" "$REQUESTS" "$name: requests answered online"
    goal=$(lines "$ON_LOG")
    settle "lines $TG_LOG" 60 "$goal" >/dev/null
    uri_share "$ON_LOG" "$TG_LOG" 1 '$' "$name"
    _tc_stop_one "$TCPCOPY_PID" tcpcopy "$TCPCOPY_LOG" || fail "$name: tcpcopy did not stop cleanly"
    TCPCOPY_PID=""
    drops=$(tc_stat capture.kernel_drops)
    if grep -q 'capture: the kernel dropped' "$TCPCOPY_LOG"; then
        grep 'capture: the kernel dropped' "$TCPCOPY_LOG" | firstn 3 >&2
    fi
    assert_eq "$drops" 0 "$name: packets the kernel dropped from tcpcopy's capture"
    if [ "$SHARE" != "1.0000" ]; then
        firstn 5 <"$LAB_DIR/missing-$name.txt" >&2
        fail "$name: $SHARE_HIT of $SHARE_N requests reproduced"
    fi
    RESULT="$name $SHARE_HIT/$SHARE_N"
}
