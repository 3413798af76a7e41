#!/usr/bin/env bash
# Segmentation offload on the link-layer send path (issue 23): tcpcopy --pcap-send -o eth0
# copies one connection carrying 5 POSTs of 20 MB each to the recording server. The target's
# recording of the connection must be byte-identical to the online server's (sha256), with the
# same 5 requests, and tcpcopy's counters must show that segments did leave coalesced in
# offload frames (send.coalesced > 0, and fewer frames than data segments), with no send error.
# Then the same over IPv6 (TCPV6 offload): one POST of 30 MB, byte-identical, coalesced.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

N=5 SIZE=$((20 * 1024 * 1024))
lab_up
start_recorder "$NS_ONL" 0.0.0.0 81 online
ON_REC=$REC_DIR
start_recorder "$NS_TGT" 0.0.0.0 8081 target
TG_REC=$REC_DIR
start_intercept -i eth0 -F 'tcp and (src port 8081 or src port 8082)'
start_tcpcopy -x 81-192.0.2.20:8081 -s 192.0.2.30 -c 203.0.113.x --pcap-send -o eth0

head -c "$SIZE" /dev/urandom >"$LAB_DIR/body.bin"
urls=()
for i in $(seq 1 "$N"); do
    urls+=(-o /dev/null "http://$IP_ONL:81/upload/$i")
done
log "one curl, one connection: $N POSTs of $SIZE bytes"
on_cli curl -sS -m 120 --data-binary "@$LAB_DIR/body.bin" \
    -w '%{http_code} %{num_connects}\n' "${urls[@]}" >"$LAB_DIR/curl.out" ||
    fail "curl failed: $(tail -n 3 "$LAB_DIR/curl.out")"
assert_eq "$(awk '$1 != 200' "$LAB_DIR/curl.out" | wc -l)" 0 "non-200 answers online"
assert_eq "$(awk '{ s += $2 } END { print s + 0 }' "$LAB_DIR/curl.out")" 1 "connections curl opened"
on_bin=$(find "$ON_REC" -name '*.bin' | firstn 1)
[ -n "$on_bin" ] || fail "no recording online"
on_size=$(stat -c %s "$on_bin")
tgt_bytes() { find "$TG_REC" -name '*.bin' -printf '%s\n' | awk '{ s += $1 } END { print s + 0 }'; }
settle tgt_bytes 90 "$on_size" >/dev/null
compare_recordings "$ON_REC" "$TG_REC"
_tc_stop_one "$TCPCOPY_PID" tcpcopy "$TCPCOPY_LOG" || fail "tcpcopy did not stop cleanly"
TCPCOPY_PID=""
coalesced=$(tc_stat send.coalesced)
frames=$(tc_stat send.packets)
data=$(tc_stat target.data_packets)
errors=$(stat_sum "$(stats_file "$TCPCOPY_LOG")" send.errors.permission send.errors.too_big \
    send.errors.no_buffer send.errors.unreachable send.errors.other)
log "data segments $data, frames given to the kernel $frames, segments coalesced $coalesced, send errors $errors"
assert_eq "$REC_CONNS" 1 "connections recorded online"
assert_eq "$REC_MATCHED" 1 "connections byte-identical on the target"
assert_eq "$(lines "$TG_REC/requests.log")" "$N" "requests recorded on the target"
assert_ge "$coalesced" 1 "segments sent coalesced in offload frames"
[ "$frames" -lt "$data" ] || fail "frames ($frames) not fewer than data segments ($data)"
assert_eq "$errors" 0 "send errors"
V4="$data data segments in $frames frames"

# IPv6: recorders on [::]:82 online and [::]:8082 on the target, a tcpcopy with a v6 rule.
start_recorder "$NS_ONL" :: 82 online6
ON6=$REC_DIR
start_recorder "$NS_TGT" :: 8082 target6
TG6=$REC_DIR
TCPCOPY_NAME=tcpcopy6 start_tcpcopy -x "[2001:db8:1::10]:82-[2001:db8:1::20]:8082" \
    -s 192.0.2.30 -c 2001:db8:3::x --pcap-send -o eth0
head -c 30000000 "$LAB_DIR/body.bin" >"$LAB_DIR/body6.bin"
on_cli curl -sS -m 60 --data-binary "@$LAB_DIR/body6.bin" -o /dev/null "http://[2001:db8:1::10]:82/v6/1" ||
    fail "curl over IPv6 failed"
on6_size=$(find "$ON6" -name '*.bin' -printf '%s\n' | awk '{ s += $1 } END { print s + 0 }')
tgt6_bytes() { find "$TG6" -name '*.bin' -printf '%s\n' | awk '{ s += $1 } END { print s + 0 }'; }
settle tgt6_bytes 60 "$on6_size" >/dev/null
compare_recordings "$ON6" "$TG6"
stop_tc || fail "tcpcopy6 or intercept did not stop cleanly"
coalesced6=$(tc_stat send.coalesced)
frames6=$(tc_stat send.packets)
data6=$(tc_stat target.data_packets)
log "IPv6: data segments $data6, frames $frames6, coalesced $coalesced6"
assert_eq "$REC_CONNS" 1 "IPv6 connections recorded online"
assert_eq "$REC_MATCHED" 1 "IPv6 connections byte-identical on the target"
assert_ge "$coalesced6" 1 "IPv6 segments sent coalesced in offload frames"
[ "$frames6" -lt "$data6" ] || fail "IPv6: frames ($frames6) not fewer than data segments ($data6)"
pass "over --pcap-send, identical on the target: IPv4 $N x $SIZE bytes ($V4), IPv6 30 MB ($data6 data segments in $frames6 frames)"
