#!/usr/bin/env bash
# tcpcopy --compare with Debian's redis-server online and on the target, loaded alike but for
# a few keys: redis-cli and redis-benchmark load, every request compared, exactly the GETs
# of those keys reported (compare_lib.sh).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/compare_lib.sh"
compare_redis_run
