#!/usr/bin/env bash
# Hostile input on the capture path, raw IP from the client: garbage.py --mode ip sends
# malformed TCP/IP (truncated TCP headers, data offset < 5 and beyond the datagram, bad
# options, IHL < 5 and > length, fragments: tiny, lone, overlapping) and GARBAGE_RANDOM random
# segments to online:80 at GARBAGE_RATE packets/s, while a curl loop runs. tcpcopy (raw-socket
# capture) stays up, every curl request is reproduced, its "malformed" counter shows what
# reached it (the kernels on the way drop IP-level garbage first), and its log does not flood.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/hostile_input_lib.sh"

lab_up
start_http_copy
garbage_phase ip "$NS_CLI" --mode ip --src "$IP_CLI" --dst "$IP_ONL" --seed 11
IP_MAL=$G_MAL IP_SENT=$G_SENT
IP_CAP=$(tc_stat capture.packets)
log "ip: sent $IP_SENT, tcpcopy captured $IP_CAP packets, malformed $IP_MAL"
assert_ge "$IP_MAL" 1 "ip: malformed packets counted by tcpcopy"
stop_intercept
pass "raw IP: $IP_SENT garbage packets sent, $IP_MAL counted malformed (captured $IP_CAP); curls 100% reproduced; log $G_LINES lines"
