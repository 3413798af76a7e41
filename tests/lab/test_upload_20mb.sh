#!/usr/bin/env bash
# One keep-alive connection carrying 10 POSTs of 20 MB each (a single curl invocation with 10
# URLs reuses its connection) to the recording server: the target's recording of that
# connection must be byte-identical to the production server's (sha256 of all its bytes) and
# hold the same 10 requests.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

N=10 SIZE=$((20 * 1024 * 1024))
lab_up
start_recorder "$NS_ONL" 0.0.0.0 81 online
ON_REC=$REC_DIR
start_recorder "$NS_TGT" 0.0.0.0 8081 target
TG_REC=$REC_DIR
start_intercept -i eth0 -F 'tcp and src port 8081'
start_tcpcopy -x 81-192.0.2.20:8081 -s 192.0.2.30 -c 203.0.113.x

head -c "$SIZE" /dev/urandom >"$LAB_DIR/body.bin"
urls=()
for i in $(seq 1 "$N"); do
    urls+=(-o /dev/null "http://$IP_ONL:81/upload/$i")
done
log "one curl, one connection: $N POSTs of $SIZE bytes"
t0=$(date +%s.%N)
on_cli curl -sS -m 120 --data-binary "@$LAB_DIR/body.bin" \
    -w '%{http_code} %{num_connects} %{size_upload}\n' "${urls[@]}" >"$LAB_DIR/curl.out" ||
    fail "curl failed: $(tail -n 3 "$LAB_DIR/curl.out")"
log "curl done in $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }') s"
bad=$(awk '$1 != 200' "$LAB_DIR/curl.out" | wc -l)
[ "$bad" -eq 0 ] || fail "online answered non-200: $(tr '\n' ' ' <"$LAB_DIR/curl.out")"
conns=$(awk '{ s += $2 } END { print s + 0 }' "$LAB_DIR/curl.out")
assert_eq "$conns" 1 "connections curl opened"
assert_eq "$(lines "$ON_REC/requests.log")" "$N" "requests recorded online"
on_files=$(find "$ON_REC" -name '*.bin' | wc -l)
assert_eq "$on_files" 1 "connections recorded online"
on_bin=$(find "$ON_REC" -name '*.bin' | firstn 1)
on_size=$(stat -c %s "$on_bin")
port=$(basename "$on_bin" .bin | awk -F_ '{ print $(NF - 1) }')

tgt_bytes() { find "$TG_REC" -name '*.bin' -printf '%s\n' | awk '{ s += $1 } END { print s + 0 }'; }
settle tgt_bytes 60 "$on_size" >/dev/null
report "$ON_REC/requests.log" "$TG_REC/requests.log"
compare_recordings "$ON_REC" "$TG_REC"
tg_bin=$(find "$TG_REC" -name "*_${port}_*.bin" -printf "%f\n" | sort -t_ -k3,3n | firstn 1)
[ -z "$tg_bin" ] || tg_bin="$TG_REC/$tg_bin"
on_sha=$(sha256sum "$on_bin" | awk '{ print $1 }')
tg_sha=none tg_size=0
if [ -n "$tg_bin" ]; then
    tg_sha=$(sha256sum "$tg_bin" | awk '{ print $1 }')
    tg_size=$(stat -c %s "$tg_bin")
fi
log "connection from port $port: online $on_size bytes sha256 $on_sha"
log "                              target $tg_size bytes sha256 $tg_sha"
tg_reqs=$(awk -v p="$port" '$2 == p' "$TG_REC/requests.log" | wc -l)
tg_conns=$(find "$TG_REC" -name '*.bin' | wc -l)
if [ "$tg_conns" -gt 1 ]; then
    log "the target recorded $tg_conns connections (seq: bytes): $(sort -k3,3n "$TG_REC/conns.log" | awk '{ printf "%s: %s, ", $3, $4 }')"
fi
stop_tc || fail "tcpcopy or intercept did not stop cleanly"
if ! d=$(diff <(awk '{ print $3, $4, $5, $6 }' "$ON_REC/requests.log") \
    <(awk -v p="$port" '$2 == p { print $3, $4, $5, $6 }' "$TG_REC/requests.log")); then
    log "requests differ: $(echo "$d" | grep '^[<>]' | firstn 4 | tr '\n' ' ')"
fi
[ -n "$tg_bin" ] || fail "no recording on the target for client port $port"
assert_eq "$tg_sha" "$on_sha" "sha256 of the connection's bytes on the target"
assert_eq "$tg_reqs" "$N" "requests on the target's connection"
assert_eq "$tg_conns" 1 "connections recorded on the target"
pass "$N x $SIZE bytes on one connection: $on_size bytes identical on the target (sha256 ${on_sha:0:16}...)"
