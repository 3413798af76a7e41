#!/usr/bin/env bash
# Trouble on the copy path: nft drops 1% of the packets from the fake clients as they reach
# the target, and the impairment relay reorders 2% and duplicates 1% of the frames toward
# the target (IMPAIR_ARGS replaces the relay's options). Every request served online must be
# reproduced on the target (loss_lib.sh).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/impair.sh"
. "$(dirname "$0")/loss_lib.sh"

lab_up
# shellcheck disable=SC2086
impair_target_link ${IMPAIR_ARGS:---reorder-a2b 20 --dup-a2b 10 --seed 7}
nft_loss_copy 10
start_http_copy
loss_load_and_check lc
impair_stop || true
reordered=$(impair_counter a2b reordered) dup=$(impair_counter a2b dup)
pass "ratio $RATIO ($N_TARGET/$N_ONLINE), nft dropped $(nft_dropped tclab_loss_copy), relay reordered $reordered duplicated $dup toward the target"
