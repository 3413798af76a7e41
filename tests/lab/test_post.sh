#!/usr/bin/env bash
# 20 POSTs of 1 MB of random data, one connection each, with "Expect: 100-continue", to the
# recording server: each connection's bytes on the target must equal the production server's.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

N=20 SIZE=$((1024 * 1024))
lab_up
start_recorder "$NS_ONL" 0.0.0.0 81 online
ON_REC=$REC_DIR
start_recorder "$NS_TGT" 0.0.0.0 8081 target
TG_REC=$REC_DIR
start_intercept -i eth0 -F 'tcp and src port 8081'
start_tcpcopy -x 81-192.0.2.20:8081 -s 192.0.2.30 -c 203.0.113.x

mkdir -p "$LAB_DIR/bodies"
for i in $(seq 1 "$N"); do
    head -c "$SIZE" /dev/urandom >"$LAB_DIR/bodies/$i.bin"
done
log "sending $N POSTs of $SIZE bytes"
for i in $(seq 1 "$N"); do
    code=$(on_cli curl -s -m 30 -o /dev/null -w '%{http_code}' -H 'Expect: 100-continue' \
        --data-binary "@$LAB_DIR/bodies/$i.bin" "http://$IP_ONL:81/post/$i") || true
    [ "$code" = 200 ] || fail "POST $i answered $code online"
done
assert_eq "$(lines "$ON_REC/requests.log")" "$N" "requests recorded online"
grep -qi 'Expect: 100-continue' "$ON_REC"/*.bin || fail "the client did not send Expect: 100-continue"

tgt_bytes() { find "$TG_REC" -name '*.bin' -printf '%s\n' | awk '{ s += $1 } END { print s + 0 }'; }
settle tgt_bytes 40 >/dev/null
report "$ON_REC/requests.log" "$TG_REC/requests.log"
compare_recordings "$ON_REC" "$TG_REC"
stop_tc || fail "tcpcopy or intercept did not stop cleanly"

# The bodies the target parsed, by URI and digest.
if ! d=$(diff <(awk '{ print $4, $5, $6 }' "$ON_REC/requests.log" | sort) \
    <(awk '{ print $4, $5, $6 }' "$TG_REC/requests.log" | sort)); then
    log "request bodies differ: $(echo "$d" | grep '^[<>]' | firstn 4 | tr '\n' ' ')"
fi
assert_eq "$REC_CONNS" "$N" "connections recorded online"
[ "$REC_MISSING" -eq 0 ] || fail "$REC_MISSING of $N connections missing on the target"
[ "$REC_MISMATCH" -eq 0 ] || fail "$REC_MISMATCH of $N connections differ on the target"
assert_eq "$REC_MATCHED" "$N" "connections identical on the target"
pass "$N x $SIZE bytes identical ($REC_BYTES bytes compared)"
