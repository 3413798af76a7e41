#!/usr/bin/env bash
# Offline replay of files that are no capture: a file of random bytes and a missing file give
# exit status 1 and a clear error naming the file ("cannot replay"). No recording needed; the
# corrupt capture files of tests/data: test_hostile_input_corrupt_files.sh.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/offline_lib.sh"

lab_up
offline_servers
start_intercept
head -c 20000 /dev/urandom >"$LAB_DIR/random.pcap"
replay random -i "$LAB_DIR/random.pcap"
assert_eq "$RP_RC" 1 "exit status on a file of random bytes"
grep -q 'random.pcap: cannot replay' "$TCPCOPY_LOG" || fail "no clear error for random bytes"
msg=$(grep -m1 'cannot replay' "$TCPCOPY_LOG" | sed 's/.*error: //')
log "random bytes: $msg"

replay missing -i "$LAB_DIR/nonexistent.pcap"
assert_eq "$RP_RC" 1 "exit status on a missing file"
grep -q 'nonexistent.pcap: cannot replay: No such file' "$TCPCOPY_LOG" || fail "no clear error for a missing file"
offline_stop
pass "random bytes and a missing file refused: '$msg'"
