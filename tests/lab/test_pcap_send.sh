#!/usr/bin/env bash
# --pcap-capture -i eth0 --pcap-send -o eth0 (link-layer send) at full rate: 100% copied, no
# kernel drop (pcap_modes_lib.sh). The online host's firewall drops every packet it routes to
# the target: only a link-layer sender gets through (AF_PACKET skips netfilter's output hook,
# conntrack and routing), and the MAC comes from the neighbour table.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/pcap_modes_lib.sh"

lab_up
start_http_servers
on_onl nft add table inet tclab
on_onl nft add chain inet tclab out '{ type filter hook output priority 0; }'
on_onl nft add rule inet tclab out ip daddr "$IP_TGT" tcp dport 8080 counter drop
run_mode pcapsend --pcap-capture -i eth0 --pcap-send -o eth0
grep -qE 'sending to 192.0.2.20 on eth0 via MAC ([0-9a-f]{2}:){5}[0-9a-f]{2} \(neighbour table\)' \
    "$TCPCOPY_LOG" || fail "pcapsend: no MAC resolution logged"
DROPPED=$(on_onl nft list chain inet tclab out | grep -oE 'packets [0-9]+' | grep -oE '[0-9]+' || echo 0)
log "pcapsend: packets the online host's firewall dropped toward the target: $DROPPED (the copy went around it)"
stop_tc || fail "intercept did not stop cleanly"
pass "$RESULT"
