#!/usr/bin/env bash
# tcpcopy --compare with the default raw-socket capture (the online answers through the
# packet socket): nginx online and on the target serving the same files but a known few;
# every request compared, exactly those reported (compare_lib.sh).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/compare_lib.sh"
compare_run
