#!/usr/bin/env bash
# The impairment tools alone, no tcpcopy: the relay spliced into the target's link with 1%
# loss, 1% reordering and 1% duplication both ways, plus nft dropping 1% each way; 200 curls
# from online to the target must all succeed, the relay must have dropped, repeated and
# reordered frames, and nft must have dropped packets. Then tc tbf on the target must cap
# the rate of its answers.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/impair.sh"

N=${N:-200}
TBF_RATE_MBIT=${TBF_RATE_MBIT:-20}
lab_up
start_nginx "$NS_TGT" 8080 target
TG_LOG=$NGINX_LOG

impair_target_link --loss-a2b 10 --loss-b2a 10 --reorder-a2b 10 --reorder-b2a 10 \
    --dup-a2b 10 --dup-b2a 10 --seed 42
nft_loss_copy 10 "ip saddr $IP_ONL tcp dport 8080"
nft_loss_reply 10 "ip daddr $IP_ONL tcp sport 8080"

log "$N sequential curls online -> target"
# One shell in the namespace for the whole loop; each curl is bounded (a lost SYN costs 1 s).
# shellcheck disable=SC2016
ok=$(on_onl timeout 150 bash -c '
    ok=0
    for ((i = 1; i <= $1; i++)); do
        c=$(curl -s -o /dev/null -w "%{http_code}" --max-time 10 "http://$2:8080/relay/$i") || true
        [ "$c" = 200 ] && ok=$((ok + 1))
    done
    echo "$ok"' _ "$N" "$IP_TGT") || fail "the curl loop timed out"
log "curls answered 200: $ok of $N"
n_tg=$(settle "lines $TG_LOG" 10)
n_uniq=$(uris "$TG_LOG" | uniq | wc -l | tr -d ' ')
echo "target served $n_tg requests, $n_uniq distinct URIs"

nft_report
impair_stats
assert_eq "$ok" "$N" "curls that succeeded"
assert_eq "$n_uniq" "$N" "distinct URIs on the target"
for d in a2b b2a; do
    assert_ge "$(impair_counter $d lost)" 1 "relay $d frames lost"
    assert_ge "$(impair_counter $d dup)" 1 "relay $d frames duplicated"
    assert_ge "$(impair_counter $d held)" 1 "relay $d frames held back"
done
reord=$(($(impair_counter a2b reordered) + $(impair_counter b2a reordered)))
assert_ge "$reord" 1 "relay frames delivered out of order"
assert_ge "$(nft_dropped tclab_loss_copy)" 1 "nft drops toward the target"
assert_ge "$(nft_dropped tclab_loss_reply)" 1 "nft drops from the target"

# tbf: the target sends 4 MB to online on a plain TCP socket, first free, then capped.
SRV='
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], 9000)); s.listen(4); s.settimeout(60)
blob = b"x" * (4 << 20)
for _ in range(2):
    c, _a = s.accept(); c.sendall(blob); c.close()'
CLI='
import socket, sys, time
t = time.monotonic(); n = 0
c = socket.create_connection((sys.argv[1], 9000), timeout=30)
while True:
    b = c.recv(1 << 16)
    if not b: break
    n += len(b)
print("%d %.3f" % (n, time.monotonic() - t))'
on_tgt "$LAB_PY" -c "$SRV" "$IP_TGT" >/dev/null 2>&1 &
lab_track $!
wait_until "listening $NS_TGT 9000" 10 || fail "tbf test server did not listen"
read -r b0 t0 < <(on_onl timeout 60 "$LAB_PY" -c "$CLI" "$IP_TGT")
tbf_target "${TBF_RATE_MBIT}mbit"
read -r b1 t1 < <(on_onl timeout 60 "$LAB_PY" -c "$CLI" "$IP_TGT")
tbf_report
r0=$(awk -v b="$b0" -v t="$t0" 'BEGIN { printf "%.1f", b * 8 / t / 1e6 }')
r1=$(awk -v b="$b1" -v t="$t1" 'BEGIN { printf "%.1f", b * 8 / t / 1e6 }')
echo "4 MB target -> online: free $r0 Mbit/s ($b0 B in $t0 s), tbf ${TBF_RATE_MBIT}mbit $r1 Mbit/s ($b1 B in $t1 s)"
assert_eq "$b1" $((4 << 20)) "bytes received under tbf"
assert_ge "$(awk -v r="$r1" -v m="$TBF_RATE_MBIT" 'BEGIN { print m * 1.15 - r }')" 0 \
    "tbf rate margin (${TBF_RATE_MBIT} Mbit/s * 1.15 - measured)"
assert_ge "$r1" "$(awk -v m="$TBF_RATE_MBIT" 'BEGIN { print m * 0.3 }')" "rate under tbf, Mbit/s"
tbf_clear

impair_stop || fail "impair did not stop cleanly"
summary="relay a2b lost $(impair_counter a2b lost) dup $(impair_counter a2b dup) reordered $(impair_counter a2b reordered), b2a lost $(impair_counter b2a lost) dup $(impair_counter b2a dup) reordered $(impair_counter b2a reordered); nft dropped $(nft_dropped tclab_loss_copy)+$(nft_dropped tclab_loss_reply)"

# Delay: 20 ms toward the target, 30 ms back; a TCP handshake then takes at least 50 ms.
nft_clear tclab_loss_copy
nft_clear tclab_loss_reply
impair_restart --delay-a2b 20 --delay-b2a 30
conn=$(on_onl timeout 20 curl -s -o /dev/null -w '%{time_connect} %{http_code}' --max-time 10 \
    "http://$IP_TGT:8080/delay") || fail "curl through the delay failed"
echo "with 20+30 ms delay: connect time, status: $conn"
assert_eq "${conn#* }" 200 "status through the delay"
assert_ge "${conn% *}" 0.050 "connect time through 20+30 ms delay, s"
assert_ge 0.5 "${conn% *}" "0.5 s bound on that connect time, s"
impair_stop || fail "impair did not stop cleanly"
assert_ge "$(impair_counter a2b delayed)" 3 "frames delayed toward the target"

pass "$ok/$N curls through loss+reorder+dup; $summary; tbf ${r1}/${TBF_RATE_MBIT} Mbit/s; RTT ${conn% *} s with 50 ms delay"
