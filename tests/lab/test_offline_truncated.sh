#!/usr/bin/env bash
# Offline replay of a truncated file: the first half of the lab's eth0 recording
# (offline_lib.sh), cut inside a record: the packets before the cut are replayed (at least 100
# requests), a warning names the file and the packets read, and the status is non-zero.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/offline_lib.sh"

lab_up
offline_servers
offline_record
start_intercept
SIZE=$(stat -c %s "$CAP")
head -c $((SIZE / 2 + 7)) "$CAP" >"$LAB_DIR/cut.pcap"
replay truncated -i "$LAB_DIR/cut.pcap" -I 100
[ "$RP_RC" -ne 0 ] || fail "a truncated file must end with a non-zero status"
grep -qE 'cut.pcap: truncated after [0-9]+ packets' "$TCPCOPY_LOG" || fail "no truncation warning"
msg=$(grep -m1 -oE 'cut.pcap: truncated after [0-9]+ packets' "$TCPCOPY_LOG")
log "truncated: $msg, exit $RP_RC"
N_CUT=$(lines "$TG_LOG")
assert_ge "$N_CUT" 100 "requests replayed from the first half of the file"
offline_stop
pass "$msg: $N_CUT requests replayed, exit $RP_RC"
