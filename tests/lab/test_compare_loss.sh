#!/usr/bin/env bash
# tcpcopy --compare under 1% loss on the copy path and on the reply path (nft in the target
# namespace): answers the loss leaves incomplete are not compared (with the reason), no
# difference is invented, the known ones are reported (compare_lib.sh).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/impair.sh"
. "$(dirname "$0")/compare_lib.sh"
COMPARE_LOSS=10 compare_run
