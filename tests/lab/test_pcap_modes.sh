#!/usr/bin/env bash
# tcpcopy's libpcap capture and link-layer send: each mode must reproduce 100% of a run of
# 100 curl requests (unique URIs, 20 connections) plus wrk for 3 s (unique URIs).
#   1. --pcap-capture -i eth0            (the default filter built from -x)
#   2. --pcap-capture -i eth0 -F FILTER  (an explicit filter)
#   3. --pcap-send -o eth0               (link layer; an nftables rule on the online host that
#                                         drops its packets to the target proves the bypass)
set -euo pipefail
. "$(dirname "$0")/lib.sh"

lab_up
start_nginx "$NS_ONL" 80 online
ON_LOG=$NGINX_LOG
start_nginx "$NS_TGT" 8080 target
TG_LOG=$NGINX_LOG
start_intercept

# traffic PREFIX: 20 curl connections x 5 requests, then wrk -c4 -d3s (about 1 ms between a
# connection's requests), every URI under /PREFIX/.
traffic() {
    local prefix=$1 i
    for ((i = 1; i <= 20; i++)); do
        on_cli curl -s --max-time 5 "http://$IP_ONL/$prefix/c$i/[1-5]" >/dev/null ||
            fail "$prefix: curl $i failed"
    done
    wrk_uri_script "$LAB_DIR/$prefix.lua" "$prefix"
    printf 'function delay()\n    return 1\nend\n' >>"$LAB_DIR/$prefix.lua"
    on_cli timeout 20 wrk -t1 -c4 -d3s --timeout 3s -s "$LAB_DIR/$prefix.lua" "http://$IP_ONL/" |
        grep -E 'requests in' | sed 's/^/  /'
}

# run_mode NAME ARGS...: tcpcopy with ARGS, the traffic, then the comparison of this mode's
# requests (the online log's lines since the start of the mode).
RESULTS=()
run_mode() {
    local name=$1 from
    shift
    from=$(($(lines "$ON_LOG") + 1))
    start_tcpcopy "${TCPCOPY_ARGS_DEFAULT[@]}" "$@"
    traffic "$name"
    settle "lines $TG_LOG" 15 >/dev/null
    uri_share "$ON_LOG" "$TG_LOG" "$from" '$' "$name"
    _tc_stop_one "$TCPCOPY_PID" tcpcopy "$TCPCOPY_LOG" || fail "$name: tcpcopy did not stop cleanly"
    TCPCOPY_PID=""
    assert_ge "$SHARE_N" 1000 "$name: requests served online"
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
run_mode pcapsend --pcap-send -o eth0
grep -qE 'sending to 192.0.2.20 on eth0 via MAC ([0-9a-f]{2}:){5}[0-9a-f]{2} \(neighbour table\)' \
    "$LAB_DIR/tcpcopy-pcapsend.log" || fail "pcapsend: no MAC resolution logged"
DROPPED=$(on_onl nft list chain inet tclab out | grep -oE 'packets [0-9]+' | grep -oE '[0-9]+' || echo 0)
log "pcapsend: packets the online host's firewall dropped toward the target: $DROPPED (the copy went around it)"

stop_tc || fail "intercept did not stop cleanly"
pass "${RESULTS[*]}"
