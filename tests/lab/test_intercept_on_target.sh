#!/usr/bin/env bash
# Intercept on the target itself, no assistant host (issue 5).
#
# Deployment (what this test builds, on the target server):
#
#   # a black hole for the copied clients' replies: a dummy device discards every packet
#   # routed to it, after packet sockets (intercept) have seen it
#   ip link add tc-dummy0 type dummy
#   ip link set tc-dummy0 up
#   ip route add 203.0.113.0/24 dev tc-dummy0   # the range tcpcopy -c rewrites clients into
#   intercept -i tc-dummy0 -F 'tcp and src port 8080'
#
#   # and on the production server
#   tcpcopy -x 80-<target>:8080 -s <target> -c 203.0.113.x
#
# The target answers the copied sessions as usual; its replies to 203.0.113.0/24 leave through
# the dummy device, where intercept captures them (pcap sees a packet on the way out) and the
# dummy driver drops them, so they never reach a network and no assistant host is needed.
# The dummy device needs no address and no ARP (it is NOARP). Reverse-path filtering on the
# target must be off (0) or loose (2): with strict mode (1) the copied requests, arriving on
# eth0 from addresses routed to the dummy device, fail the reverse-path check and are
# dropped. This test uses loose mode (RP_FILTER=2, the setting of several distributions);
# RP_FILTER=1 shows the failure. Capturing on the target's main interface instead (-i eth0) also
# works, but then the replies must still be routed to a black hole somewhere.
#
# Here: the route from the lab's assist host is replaced on the target and assist's interface is
# taken down (nothing reaches it); tcpcopy -s 192.0.2.20. Kernels without the dummy driver
# (this lab machine's: "ip link add ... type dummy" gives "Unknown device type") get the same
# black hole from a veth pair inside the target: tc-bh0 with ARP off (so packets leave at once,
# addressed to tc-bh0's own MAC) carries the route and is captured, its peer tc-bh1 is up with no
# address and discards them (not its MAC, and the target does not forward). 200 sequential curls and then
# wrk -t1 -c10 -d5s (unique URIs): 100% of each reproduced. Also checked: the route to the fake
# range goes to the dummy device, the dummy device transmitted (= discarded) at least one
# packet per reproduced request, and the target's eth0 sent no packet to the fake range.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

RP_FILTER=${RP_FILTER:-2}
lab_up
start_nginx "$NS_ONL" 80 online
ON_LOG=$NGINX_LOG
start_nginx "$NS_TGT" 8080 target
TG_LOG=$NGINX_LOG

# No assistant: its link goes down, the target's route to the fake range goes to a dummy device.
ip -n "$NS_AST" link set eth0 down
if on_tgt ip link add tc-dummy0 type dummy 2>"$LAB_DIR/dummy.err"; then
    DUMMY=tc-dummy0
    log "black hole: dummy device $DUMMY"
else
    log "no dummy driver ($(cat "$LAB_DIR/dummy.err")): black hole from a veth pair tc-bh0/tc-bh1 instead"
    DUMMY=tc-bh0
    on_tgt ip link add tc-bh0 type veth peer name tc-bh1
    on_tgt sysctl -qw net.ipv6.conf.tc-bh0.disable_ipv6=1 net.ipv6.conf.tc-bh1.disable_ipv6=1
    on_tgt ip link set tc-bh0 arp off
    on_tgt ip link set tc-bh1 up
fi
on_tgt ip link set "$DUMMY" up
on_tgt ip route replace "$FAKE_NET" dev "$DUMMY"
on_tgt sysctl -qw net.ipv4.conf.all.rp_filter="$RP_FILTER" net.ipv4.conf.eth0.rp_filter="$RP_FILTER" \
    net.ipv4.conf.default.rp_filter="$RP_FILTER"
route=$(on_tgt ip route get 203.0.113.7)
log "target: $(echo "$route" | firstn 1); rp_filter $RP_FILTER"
grep -q "dev $DUMMY" <<<"$route" || fail "the fake range is not routed to $DUMMY: $route"

# eth0 packets toward the fake range, counted by an nftables rule (0 expected).
NFT_OK=0
if command -v nft >/dev/null && on_tgt nft -f - <<EOF 2>"$LAB_DIR/nft.err"; then
table ip tclab {
    chain out {
        type filter hook postrouting priority 0; policy accept;
        oifname "eth0" ip daddr $FAKE_NET counter
    }
}
EOF
    NFT_OK=1
else
    log "note: no nftables counter ($(cat "$LAB_DIR/nft.err" 2>/dev/null)); skipping the eth0 check"
fi

NS_INTERCEPT=$NS_TGT start_intercept -i "$DUMMY" -F 'tcp and src port 8080'
NS_INTERCEPT=$NS_TGT start_tcpcopy -x "80-$IP_TGT:8080" -s "$IP_TGT" -c 203.0.113.x
tx0=$(on_tgt cat "/sys/class/net/$DUMMY/statistics/tx_packets")

# 1. 200 sequential curls.
log "200 sequential curls"
on_cli timeout 60 bash -c 'for i in $(seq 1 200); do
    curl -s -m 5 -o /dev/null "http://'"$IP_ONL"'/ot/c/$i" || echo "curl $i failed" >&2; done'
assert_eq "$(lines "$ON_LOG")" 200 "curl requests served online"
settle "lines $TG_LOG" 30 200 >/dev/null
uri_share "$ON_LOG" "$TG_LOG" 1 200 curl
[ "$SHARE_HIT" -eq 200 ] || fail "curl: $((200 - SHARE_HIT)) of 200 not reproduced, e.g. $(firstn 5 <"$LAB_DIR/missing-curl.txt" | tr '\n' ' ')"
assert_eq "$(lines "$TG_LOG")" 200 "curl requests on the target"

# 2. wrk, unique URIs.
wrk_count otw 10 20000 "http://$IP_ONL/"
n_on=$(lines "$ON_LOG")
assert_ge "$((n_on - 200))" 20000 "wrk requests served online"
settle "lines $TG_LOG" 60 "$n_on" >/dev/null
report "$ON_LOG" "$TG_LOG"
uri_share "$ON_LOG" "$TG_LOG" 201 '$' wrk
wrk_share=$SHARE wrk_n=$SHARE_N wrk_hit=$SHARE_HIT
assert_eq "$(lines "$TG_LOG")" "$n_on" "requests on the target (no loss, no duplicates)"
[ "$wrk_hit" -eq "$wrk_n" ] || fail "wrk: $((wrk_n - wrk_hit)) of $wrk_n not reproduced"

# Where the replies went.
tx1=$(on_tgt cat "/sys/class/net/$DUMMY/statistics/tx_packets")
txd=$(on_tgt cat "/sys/class/net/$DUMMY/statistics/tx_dropped")
if [ "$DUMMY" = tc-bh0 ]; then
    rx_bh1=$(on_tgt cat /sys/class/net/tc-bh1/statistics/rx_packets)
    tx_bh1=$(on_tgt cat /sys/class/net/tc-bh1/statistics/tx_packets)
    log "$DUMMY: tx_packets +$((tx1 - tx0)), tx_dropped $txd; its peer tc-bh1 received $rx_bh1 and sent $tx_bh1 (discarded)"
    assert_eq "$tx_bh1" 0 "packets tc-bh1 sent back"
else
    log "$DUMMY: tx_packets +$((tx1 - tx0)) (discarded by the driver), tx_dropped $txd"
fi
assert_ge "$((tx1 - tx0))" "$n_on" "replies sent into $DUMMY (at least one per request)"
if [ "$NFT_OK" -eq 1 ]; then
    eth_pk=$(on_tgt nft list table ip tclab | grep -oE 'packets [0-9]+' | grep -oE '[0-9]+' | firstn 1)
    assert_eq "$eth_pk" 0 "packets the target sent to $FAKE_NET through eth0"
fi
stop_tc || fail "tcpcopy or intercept did not stop cleanly"
pass "intercept on the target ($DUMMY, rp_filter $RP_FILTER): curl 200/200, wrk $wrk_hit/$wrk_n (share $wrk_share); $DUMMY discarded $((tx1 - tx0)) replies"
