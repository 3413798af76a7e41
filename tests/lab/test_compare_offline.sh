#!/usr/bin/env bash
# tcpcopy --compare offline: a tcpdump file of both directions replayed to the target; the
# online answers come from the file (compare_lib.sh).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/compare_lib.sh"
compare_offline_run
