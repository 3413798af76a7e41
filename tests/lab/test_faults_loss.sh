#!/usr/bin/env bash
# Fault between online and target: 5% loss on both paths (nft in the target: copies in,
# answers out) during a paced wrk load: every request of the load must be reproduced (loss, not
# an outage), retransmissions counted (faults_lib.sh: tcpcopy and intercept stay up, RSS
# bounded, fresh requests after the fault reproduced).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/faults_lib.sh"

faults_lab_up
nft_loss_copy 50
nft_loss_reply 50
TCPCOPY_NAME=tcpcopy-b start_tcpcopy
load_start b 3
sleep 1.5
alive_check "b (loss)"
load_wait b
settle_phase b 25
alive_check b
nft_report
uri_share "$ON_LOG" "$TG_LOG" "$PH_FROM" "$PH_TO" b
b_share=$SHARE b_hit=$SHARE_HIT b_n=$SHARE_N
b_drop="copy $(nft_dropped tclab_loss_copy), reply $(nft_dropped tclab_loss_reply)"
nft_clear tclab_loss_copy
nft_clear tclab_loss_reply
recover b
stop_copy b
b_rtx=$(tc_stat target.retransmitted_packets)
log "b: retransmitted $b_rtx"
assert_eq "$b_share" 1.0000 "b: share of requests reproduced under 5% loss"
assert_ge "$b_rtx" 1 "b: retransmissions counted"
faults_end "5% loss both ways: $b_hit/$b_n, nft dropped $b_drop, retransmitted $b_rtx"
