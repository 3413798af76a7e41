#!/usr/bin/env bash
# Trouble on the reply path: nft drops 1% of the target's packets to the fake clients as they
# leave it (so assist, and through it tcpcopy, never sees them; the target retransmits).
# Every request served online must be reproduced on the target (loss_lib.sh).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/impair.sh"
. "$(dirname "$0")/loss_lib.sh"

lab_up
nft_loss_reply 10
start_http_copy
loss_load_and_check lr
pass "ratio $RATIO ($N_TARGET/$N_ONLINE), nft dropped $(nft_dropped tclab_loss_reply) replies"
