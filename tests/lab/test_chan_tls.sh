#!/usr/bin/env bash
# The channel's TLS 1.3 and reply payload (issue 20, doc/protocol.md 6.1 and 14).
#  (a) PSK: intercept --secret-file --payload, tcpcopy --secret-file --channel-payload (which
#      implies --tls); wrk sends TOTAL requests (bounded by count) through the online nginx,
#      whose target twin answers pages holding a marker string. Every request is copied;
#      intercept's counters show payload bytes forwarded >= the target's body bytes and within
#      the headers' allowance of them, over TLS (tls.peers); a tcpdump on the channel's link
#      saw the payload cross (more channel bytes than payload bytes) but never the marker.
#  (b) certificates made here with the openssl CLI, intercept --tls-required: the copy and the
#      payload work keyed by them; a plain tcpcopy is refused with a message naming --tls; a
#      tcpcopy asking for payload in clear is refused with a message naming --tls.
#  (c) intercept --payload without --tls-required: a tcpcopy on another host asking for payload
#      in clear is not offered it (counted) and exits naming --tls; without payload it copies.
#  (d) 10 answers of 4 MB over PSK TLS (the capture sees segments as large as GSO made them):
#      the payload forwarded is the answers' bytes, none cut, every answer acknowledged.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

TOTAL=${TOTAL:-5000}
MARKER=TCPCOPY-PRIVATE-ANSWER-7f3a9c
lab_up
start_nginx "$NS_ONL" 80 online
ON_LOG=$NGINX_LOG
start_nginx "$NS_TGT" 8080 target
TG_LOG=$NGINX_LOG
# The target's answers carry the marker: production data that must not cross in clear.
for i in $(seq 40); do printf '%s %d\n' "$MARKER" "$i"; done >"$LAB_DIR/nginx-target/html/page.html"
on_tgt curl -s "http://127.0.0.1:8080/x" | grep -q "$MARKER" || fail "the target does not serve the marker"
: >"$TG_LOG"

ICPT_ARGS=(-i eth0 -F 'tcp and src port 8080' --payload)
TC_ARGS=(-x "80-$IP_TGT:8080" -s "$IP_AST" -c 203.0.113.x --channel-payload)
SECRET="$LAB_DIR/secret"
(umask 077 && head -c 24 /dev/urandom | base64 >"$SECRET")
out="$LAB_DIR/out.txt"

# ic_stat_now KEY: intercept's counter now (SIGUSR1 writes its stats file at once).
ic_stat_now() {
    local f i before
    f=$(stats_file "$INTERCEPT_LOG")
    before=$(stat -c %Y.%s "$f" 2>/dev/null || echo none)
    kill -USR1 "$INTERCEPT_PID" 2>/dev/null || fail "ic_stat_now: intercept is not running"
    for ((i = 0; i < 50; i++)); do
        sleep 0.1
        [ "$(stat -c %Y.%s "$f" 2>/dev/null || echo none)" != "$before" ] && break
    done
    stat_get "$f" "$1"
}

# capture_start NAME: tcpdump of the channel port on intercept's link.
capture_start() {
    CAP="$LAB_DIR/chan-$1.pcap"
    ip netns exec "$NS_AST" tcpdump -Z root -B 32768 -i eth0 --immediate-mode -U -s 0 -w "$CAP" "tcp port $CHAN_PORT" \
        >"$LAB_DIR/tcpdump-$1.log" 2>&1 &
    TD=$!
    lab_track "$TD"
    wait_until "grep -q listening $LAB_DIR/tcpdump-$1.log" 10 || fail "tcpdump did not start"
}

capture_stop() {
    # Every packet written before it stops (the file no longer grows for a second).
    settle_stable "stat -c %s $CAP" 10 1 >/dev/null
    kill -INT "$TD" 2>/dev/null || true
    wait "$TD" 2>/dev/null || true
    grep -qE '^0 packets dropped by kernel' "$LAB_DIR/tcpdump-$1.log" || fail "the channel capture dropped packets"
}

# copied NAME N: the N requests /NAME... served online are all on the target, and the
# payload forwarded matches the target's answers; the channel capture never shows the marker.
check_copy() {
    local name=$1 n on tg body pay recs cap_bytes
    n=$(grep -c " /$name" "$ON_LOG" || true)
    assert_ge "$n" "$2" "$name: requests served online"
    settle "grep -c ' /$name' $TG_LOG" 60 "$n" >/dev/null
    tg=$(grep -c " /$name" "$TG_LOG" || true)
    assert_eq "$tg" "$n" "$name: requests copied to the target"
    # Every reply reached tcpcopy before stopping: the copy's sessions are all answered.
    stop_tc || fail "$name: tcpcopy or intercept did not stop cleanly"
    capture_stop "$name"
    body=$(awk -v p=" /$name" 'index($0, p) { s += $7 } END { print s + 0 }' "$TG_LOG")
    pay=$(ic_stat payload.bytes)
    recs=$(ic_stat payload.records)
    log "$name: target body bytes $body, payload bytes forwarded $pay in $recs records," \
        "split $(ic_stat payload.split), truncated $(ic_stat payload.truncated)," \
        "refused $(ic_stat payload.refused), TLS peers $(ic_stat tls.peers)"
    assert_ge "$pay" "$body" "$name: payload bytes forwarded >= the target's body bytes"
    # Headers of a 1.6 KB nginx answer are ~150 bytes: at most 400 per answer on top.
    assert_ge "$((body + 400 * tg))" "$pay" "$name: payload bytes within the answers' size"
    assert_eq "$(ic_stat payload.truncated)" 0 "$name: payloads cut by the capture"
    assert_ge "$(ic_stat tls.peers)" 1 "$name: TLS handshakes at intercept"
    cap_bytes=$(stat -c %s "$CAP")
    assert_ge "$cap_bytes" "$pay" "$name: bytes captured on the channel's link"
    if grep -qa "$MARKER" "$CAP"; then fail "$name: the marker crossed the channel in clear"; fi
    log "ok: $name: $tg of $n requests copied, $pay payload bytes over TLS, marker never in clear ($cap_bytes bytes captured)"
}

# ---- (a) PSK from --secret-file ---------------------------------------------------------
capture_start psk
start_intercept "${ICPT_ARGS[@]}" --secret-file "$SECRET"
start_tcpcopy "${TC_ARGS[@]}" --secret-file "$SECRET"
grep -q "TLS" "$INTERCEPT_LOG" || fail "(a) intercept says nothing of TLS"
wrk_count psk 10 "$TOTAL" "http://$IP_ONL/"
check_copy psk "$TOTAL"

# ---- (b) certificates, --tls-required -------------------------------------------------
C=$LAB_DIR/pki
mkdir -p "$C"
(
    cd "$C"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key \
        -subj /CN=lab-ca -days 2 -out ca.pem
    for n in intercept tcpcopy; do
        openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout $n.key \
            -subj /CN=$n -out $n.csr
        openssl x509 -req -in $n.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 -out $n.pem
    done
    chmod 600 ./*.key
) >"$LAB_DIR/pki.log" 2>&1 || fail "openssl could not make the certificates: $(tail -n 3 "$LAB_DIR/pki.log")"
capture_start cert
INTERCEPT_NAME=intercept-cert start_intercept "${ICPT_ARGS[@]}" --tls-required \
    --tls-cert "$C/intercept.pem" --tls-key "$C/intercept.key" --tls-ca "$C/ca.pem"

# A plain tcpcopy, and one asking for payload in clear: refused, saying what to do.
for extra in "" "--channel-payload"; do
    RC=0
    # shellcheck disable=SC2086
    timeout 20 ip netns exec "$NS_ONL" "$TC_BIN/tcpcopy" -x "80-$IP_TGT:8080" -s "$IP_AST" \
        -c 203.0.113.x $extra >"$out" 2>&1 || RC=$?
    sed 's/^/  | /' "$out" >&2
    [ "$RC" -ne 0 ] && [ "$RC" -ne 124 ] || fail "(b) plain tcpcopy ${extra:-without payload}: exit $RC"
    grep -q -- "--tls" "$out" || fail "(b) plain tcpcopy ${extra}: the message does not name --tls"
done
assert_ge "$(ic_stat_now tls.plain_refused)" 2 "(b) plain peers refused by --tls-required"

TCPCOPY_NAME=tcpcopy-cert start_tcpcopy "${TC_ARGS[@]}" \
    --tls-cert "$C/tcpcopy.pem" --tls-key "$C/tcpcopy.key" --tls-ca "$C/ca.pem"
wrk_count cert 10 1000 "http://$IP_ONL/"
check_copy cert 1000

# ---- (c) payload never in clear to another host ----------------------------------------
INTERCEPT_NAME=intercept-plain start_intercept "${ICPT_ARGS[@]}"
RC=0
timeout 20 ip netns exec "$NS_ONL" "$TC_BIN/tcpcopy" "${TC_ARGS[@]}" >"$out" 2>&1 || RC=$?
sed 's/^/  | /' "$out" >&2
[ "$RC" -ne 0 ] && [ "$RC" -ne 124 ] || fail "(c) plain tcpcopy asking for payload: exit $RC"
grep -q "plain channel" "$out" && grep -q -- "--tls" "$out" ||
    fail "(c) the message does not say why (plain channel) and what to do (--tls)"
assert_ge "$(ic_stat_now payload.refused_plain)" 1 "(c) payload asked in clear, not offered"
TCPCOPY_NAME=tcpcopy-plain start_tcpcopy -x "80-$IP_TGT:8080" -s "$IP_AST" -c 203.0.113.x
on_cli curl -s -o /dev/null "http://$IP_ONL/plain/1"
settle "grep -c ' /plain/' $TG_LOG" 30 1 >/dev/null
stop_tc || fail "(c) tcpcopy or intercept did not stop cleanly"
assert_eq "$(ic_stat payload.records)" 0 "(c) payload records without payload asked"
assert_eq "$(grep -c ' /plain/' "$TG_LOG")" 1 "(c) the plain copy"
# ---- (d) large answers ------------------------------------------------------------------
# The same 4 MB page on both: the client reads it all, so the replayed session lasts the
# target's whole answer.
head -c $((3 << 20)) /dev/urandom | base64 -w 1000 >"$LAB_DIR/nginx-target/html/page.html"
cp "$LAB_DIR/nginx-target/html/page.html" "$LAB_DIR/nginx-online/html/page.html"
INTERCEPT_NAME=intercept-big start_intercept "${ICPT_ARGS[@]}" --secret-file "$SECRET"
TCPCOPY_NAME=tcpcopy-big start_tcpcopy "${TC_ARGS[@]}" --secret-file "$SECRET"
for i in $(seq 10); do on_cli curl -s -o /dev/null "http://$IP_ONL/big/$i"; done
settle "grep -c ' /big/' $TG_LOG" 30 10 >/dev/null
body=$(awk 'index($0, " /big/") { s += $7 } END { print s + 0 }' "$TG_LOG")
# Every answer's bytes reach tcpcopy, which acknowledges them from the records.
got=$(settle "tc_stat_now replies.payload_bytes" 60 "$body")
assert_ge "$got" "$body" "(d) answer bytes that reached tcpcopy"
stop_tc || fail "(d) tcpcopy or intercept did not stop cleanly"
pay=$(ic_stat payload.bytes)
log "(d) body bytes $body, payload bytes $pay in $(ic_stat payload.records) records (split $(ic_stat payload.split), truncated $(ic_stat payload.truncated))"
assert_eq "$(grep -c ' /big/' "$TG_LOG")" 10 "(d) large answers copied"
assert_ge "$body" $((10 * (4 << 20))) "(d) the target's answer bytes (10 x 4 MB)"
assert_ge "$pay" "$body" "(d) payload bytes forwarded >= the target's answers"
assert_ge "$((body + 4000))" "$pay" "(d) payload bytes within the answers' size"
assert_eq "$(ic_stat payload.truncated)" 0 "(d) payloads cut by the capture"
pass "TLS (PSK, certificates) and reply payload: every request copied, payload bytes as the answers', no plaintext on the channel"
