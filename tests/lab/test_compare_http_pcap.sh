#!/usr/bin/env bash
# tcpcopy --compare --pcap-capture: the same scenario as test_compare_http.sh, the online
# answers taken by libpcap's default filter with its source-port terms (compare_lib.sh).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/compare_lib.sh"
compare_run --pcap-capture
