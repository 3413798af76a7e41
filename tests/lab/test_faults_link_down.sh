#!/usr/bin/env bash
# Fault between online and target: the router's bridge port toward the target is down for 2 s
# in the middle of a paced wrk load; requests served from link-up + 2 s on must all be
# reproduced, retransmission timeouts counted (faults_lib.sh: tcpcopy and intercept stay up,
# RSS bounded, fresh requests after the fault reproduced).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/faults_lib.sh"

faults_lab_up
TCPCOPY_NAME=tcpcopy-a start_tcpcopy
load_start a 6
T0=$(date +%s.%N)
sleep_until "$T0" 1.5
on_rtr ip link set tgt0 down
log "a: t=1.5 s: the router's port toward the target is down"
sleep_until "$T0" 3.5
alive_check "a (link down)"
on_rtr ip link set tgt0 up
log "a: t=3.5 s: link up"
sleep_until "$T0" 5.5
MARK=$(lines "$ON_LOG")
load_wait a
settle_phase a 20
alive_check a
uri_share "$ON_LOG" "$TG_LOG" "$PH_FROM" "$PH_TO" a-all
a_all="$SHARE_HIT/$SHARE_N ($SHARE)"
uri_share "$ON_LOG" "$TG_LOG" $((MARK + 1)) "$PH_TO" a-after
a_after=$SHARE a_after_n=$SHARE_N
recover a
stop_copy a
a_rto=$(tc_stat target.retransmissions.timeout) a_rtx=$(tc_stat target.retransmitted_packets)
log "a: retransmitted $a_rtx (timeouts $a_rto)"
assert_ge "$a_after_n" 50 "a: requests from link-up + 2 s"
assert_eq "$a_after" 1.0000 "a: share of requests from link-up + 2 s reproduced"
assert_ge "$a_rto" 1 "a: retransmission timeouts counted"
faults_end "link down 2 s: all $a_all, after link-up+2s $a_after of $a_after_n, rto $a_rto"
