#!/usr/bin/env bash
# tcpcopy's libpcap capture and link-layer send at full rate. Each mode gets a load bounded by
# count, not time (wrk -t1 -c10 from the client, 30,000 requests with unique URIs, as fast as
# this machine serves them), must reproduce 100% of it on the target, and tcpcopy's final
# counters must show no packet dropped by the kernel at the default -B (a drop there means the
# default ring is too small for this load):
#   1. pcapdef:  --pcap-capture -i eth0            (the default filter built from -x)
#   2. pcapflt:  --pcap-capture -i eth0 -F FILTER  (an explicit filter)
#   3. pcapsend: --pcap-capture -i eth0 --pcap-send -o eth0 (link layer; an nftables rule on the
#                online host that drops its packets to the target proves the bypass)
# PCAP_MODES_REQUESTS changes the count.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

REQUESTS=${PCAP_MODES_REQUESTS:-30000}

lab_up
start_http_servers

# run_mode NAME ARGS...: tcpcopy with ARGS, the load, then the comparison of this mode's
# requests (the online log's lines since the start of the mode) and tcpcopy's kernel drops.
RESULTS=()
run_mode() {
    local name=$1 from tg_from goal drops
    shift
    from=$(($(lines "$ON_LOG") + 1))
    tg_from=$(lines "$TG_LOG")
    start_tcpcopy "${TCPCOPY_ARGS_DEFAULT[@]}" "$@"
    wrk_count "$name" 10 "$REQUESTS" "http://$IP_ONL/"
    assert_ge "$WRK_ANSWERED" "$REQUESTS" "$name: requests answered online"
    goal=$((tg_from + $(lines "$ON_LOG") - from + 1))
    settle "lines $TG_LOG" 60 "$goal" >/dev/null
    uri_share "$ON_LOG" "$TG_LOG" "$from" '$' "$name"
    _tc_stop_one "$TCPCOPY_PID" tcpcopy "$TCPCOPY_LOG" || fail "$name: tcpcopy did not stop cleanly"
    TCPCOPY_PID=""
    grep -q 'final: capture packets' "$TCPCOPY_LOG" || fail "$name: no final capture counters"
    drops=$(tc_stat capture.kernel_drops)
    if grep -q 'capture: the kernel dropped' "$TCPCOPY_LOG"; then
        grep 'capture: the kernel dropped' "$TCPCOPY_LOG" | firstn 3 >&2
    fi
    assert_eq "$drops" 0 "$name: packets the kernel dropped from tcpcopy's capture"
    if [ "$SHARE" != "1.0000" ]; then
        firstn 5 <"$LAB_DIR/missing-$name.txt" >&2
        fail "$name: $SHARE_HIT of $SHARE_N requests reproduced"
    fi
    RESULTS+=("$name $SHARE_HIT/$SHARE_N")
    mv "$TCPCOPY_LOG" "$LAB_DIR/tcpcopy-$name.log"
}

run_mode pcapdef --pcap-capture -i eth0
grep -q 'filter: ((tcp and dst port 80)) and not (dst host 192.0.2.20 and dst port 8080)' \
    "$LAB_DIR/tcpcopy-pcapdef.log" || fail "pcapdef: the default filter is not the one expected"

run_mode pcapflt --pcap-capture -i eth0 -F 'tcp and dst port 80 and dst host 192.0.2.10'

# The online host drops every packet it routes to the target: only a link-layer sender gets
# through (AF_PACKET skips netfilter's output hook, conntrack and routing).
on_onl nft add table inet tclab
on_onl nft add chain inet tclab out '{ type filter hook output priority 0; }'
on_onl nft add rule inet tclab out ip daddr "$IP_TGT" tcp dport 8080 counter drop
run_mode pcapsend --pcap-capture -i eth0 --pcap-send -o eth0
grep -qE 'sending to 192.0.2.20 on eth0 via MAC ([0-9a-f]{2}:){5}[0-9a-f]{2} \(neighbour table\)' \
    "$LAB_DIR/tcpcopy-pcapsend.log" || fail "pcapsend: no MAC resolution logged"
DROPPED=$(on_onl nft list chain inet tclab out | grep -oE 'packets [0-9]+' | grep -oE '[0-9]+' || echo 0)
log "pcapsend: packets the online host's firewall dropped toward the target: $DROPPED (the copy went around it)"

stop_tc || fail "intercept did not stop cleanly"
pass "${RESULTS[*]}"
