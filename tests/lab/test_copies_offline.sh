#!/usr/bin/env bash
# -n 2 offline: a capture of 300 requests (100 curl connections of 3) replayed with --fast,
# each request on the target exactly twice.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/copies_lib.sh"

lab_up
start_http_servers
CAP=$LAB_DIR/c.pcap
ip netns exec "$NS_ONL" tcpdump -Z root -B 32768 -i eth0 -U -s 0 -w "$CAP" 'tcp dst port 80' \
    >"$LAB_DIR/tcpdump.log" 2>&1 &
TD=$!
lab_track "$TD"
wait_until "grep -q listening $LAB_DIR/tcpdump.log" 10 || fail "tcpdump did not start"
for ((i = 1; i <= 100; i++)); do
    on_cli curl -s --max-time 5 "http://$IP_ONL/no/$i/[1-3]" >/dev/null || fail "curl $i failed"
done
sleep 2
kill -INT "$TD" 2>/dev/null || true
wait "$TD" 2>/dev/null || true
grep -qE '^0 packets dropped by kernel' "$LAB_DIR/tcpdump.log" || fail "the recording dropped packets"
TCPCOPY_LOG="$LAB_DIR/tcpcopy.log"
ip netns exec "$NS_ONL" timeout 60 "$TC_BIN/tcpcopy" "${TCPCOPY_ARGS_DEFAULT[@]}" -n 2 -i "$CAP" --fast \
    >"$TCPCOPY_LOG" 2>&1 || fail "offline tcpcopy failed: $(tail -n 3 "$TCPCOPY_LOG")"
settle "grep -c ' /no/' $TG_LOG" 30 600 >/dev/null
read -r uris bad <<<"$(copies_of no 2)"
assert_eq "$uris" 300 "recorded requests on the target (distinct)"
assert_eq "$bad" 0 "requests not replayed exactly twice"
stop_tc || fail "intercept did not stop cleanly"
pass "-n 2 offline: $uris x 2"
