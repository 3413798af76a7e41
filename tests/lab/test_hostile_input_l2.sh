#!/usr/bin/env bash
# Hostile input on the capture path, link layer: the malformed kinds of garbage.py (and more:
# total length beyond/below, version, bad IPv6 payload length) as Ethernet frames written by
# the router straight onto online's link, with tcpcopy capturing by libpcap on eth0 (-F 'ip or
# ip6': everything reaches its parser), while a curl loop runs: tcpcopy stays up, every curl
# request is reproduced, at least every structurally malformed frame is counted malformed, and
# its log does not flood.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/hostile_input_lib.sh"

lab_up
start_http_servers
ONL_MAC=$(on_onl cat /sys/class/net/eth0/address)
TCPCOPY_NAME=tcpcopy-l2 start_tcpcopy "${TCPCOPY_ARGS_DEFAULT[@]}" -i eth0 -F 'ip or ip6'
garbage_phase l2 "$NS_RTR" --mode l2 --dev onl0 --dst-mac "$ONL_MAC" --src "$IP_CLI" \
    --dst "$IP_ONL" --seed 12
L2_MAL=$G_MAL L2_SENT=$G_SENT
L2_CAP=$(tc_stat capture.packets)
# Every structured kind but the random ones, the fragments (reassembly is not the capture's
# job: a fragment is counted malformed too) and the IP options case is malformed on the wire.
L2_BAD=$(awk '$1 ~ /^(tcp_trunc|doff_small|doff_big|opt_zero_len|opt_len1|opt_mss_long|opt_trunc|ihl_small|ihl_big|totlen_big|totlen_small|version|ipv6_bad|not_tcp)$/ { s += $3 } END { print s + 0 }' \
    "$LAB_DIR/garbage-l2.out")
log "l2: sent $L2_SENT ($L2_BAD malformed by construction), tcpcopy captured $L2_CAP, malformed $L2_MAL"
assert_ge "$L2_MAL" "$L2_BAD" "l2: malformed packets counted by tcpcopy (at least the structured ones)"
stop_intercept
pass "link layer: $L2_SENT sent ($L2_BAD malformed by construction), $L2_MAL counted malformed; curls 100% reproduced; log $G_LINES lines"
