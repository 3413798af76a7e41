#!/usr/bin/env bash
# The channel admits only allowed, authenticated peers and survives hostile input (issue 5).
#  (a) intercept --allow 192.0.2.10/32: a tcpcopy on 192.0.2.11 is refused: it exits non-zero
#      with a message naming the intercept and saying it was refused (not allowed), and
#      intercept's log names the peer's address and the --allow that would admit it; a raw
#      connection from there gets no HELLO; the tcpcopy on 192.0.2.10 is admitted and copies
#      20 curls.
#  (b) intercept --secret-file (mode 0600): tcpcopy with the same secret copies 100% of 100
#      curls; with a wrong secret, and with none, it is refused with a clear message on both
#      sides and exits non-zero; a secret file readable by others is refused at startup.
#  (c) tests/lab/chan_fuzz_client.py against that intercept, while the good tcpcopy stays
#      connected: 200 connections proving the secret (so fuzzed frames reach the parser behind
#      the handshake) and 100 without it (garbage, bad HELLOs, random AUTH proofs, truncated
#      frames, huge lengths, ...). intercept must still be running, the good tcpcopy must still
#      be connected, and 50 more curls must be reproduced; intercept's counters are reported.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

lab_up 2
ONL2=${NS_ONLINE[1]}
IP_ONL2=192.0.2.11
start_nginx "$NS_ONL" 80 online
ON_LOG=$NGINX_LOG
start_nginx "$NS_TGT" 8080 target
TG_LOG=$NGINX_LOG
out="$LAB_DIR/out.txt"
TC_ARGS=(-x "80-$IP_TGT:8080" -s "$IP_AST" -c 203.0.113.x)

# run_bounded CMD...: runs CMD (at most 20 s), sets RC and shows its output.
run_bounded() {
    RC=0
    timeout 20 "$@" >"$out" 2>&1 || RC=$?
    [ "$RC" -ne 124 ] || fail "$WHAT: still running after 20 s"
    sed 's/^/  | /' "$out" >&2
}

# curls FROM TO PREFIX: sequential curls to online, unique URIs /PREFIX/N.
curls() {
    on_cli timeout 60 bash -c 'for i in $(seq '"$1 $2"'); do
        curl -s -m 5 -o /dev/null "http://'"$IP_ONL"'/'"$3"'/$i" || echo "curl $i failed" >&2; done'
}

# reproduced PREFIX N: all N requests /PREFIX/... served online are on the target.
reproduced() {
    local p=$1 n=$2 on tg
    settle "grep -c ' /$p/' $TG_LOG" 30 "$n" >/dev/null
    on=$(grep -c " /$p/" "$ON_LOG" || true)
    tg=$(grep -c " /$p/" "$TG_LOG" || true)
    assert_eq "$on" "$n" "$WHAT: /$p/ requests served online"
    if ! d=$(diff <(grep " /$p/" "$ON_LOG" | awk '{ print $4 }' | sort) <(grep " /$p/" "$TG_LOG" | awk '{ print $4 }' | sort)); then
        fail "$WHAT: /$p/ requests not reproduced ($tg of $on on the target): $(echo "$d" | grep '^[<>]' | firstn 6 | tr '\n' ' ')"
    fi
    log "ok: $WHAT: $tg of $on /$p/ requests reproduced"
}

# no_hello NS: a raw connection from NS gets no HELLO: closed, or silent for 2 s.
no_hello() {
    ip netns exec "$1" "$LAB_PY" - "$IP_AST" "$CHAN_PORT" <<'EOF'
import socket, sys
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=3)
s.sendall(b"\x01\x00\x00\x1cTCPC\x00\x01\x01\x00\x00\x00\x00\x04" + bytes(16))
s.settimeout(2)
try:
    d = s.recv(4)
    print("hello" if d[:1] == b"\x01" else "closed")
except (ConnectionResetError, BrokenPipeError):
    print("closed")
except socket.timeout:
    print("silent")
EOF
}

ICPT_ARGS=(-i eth0 -F 'tcp and src port 8080')

# ---- (a) allowlist ----------------------------------------------------------------------
WHAT="(a) outside --allow"
INTERCEPT_NAME=intercept-a start_intercept "${ICPT_ARGS[@]}" --allow "$IP_ONL/32"
run_bounded ip netns exec "$ONL2" "$TC_BIN/tcpcopy" "${TC_ARGS[@]}"
[ "$RC" -ne 0 ] || fail "$WHAT: tcpcopy on $IP_ONL2 exited 0"
grep -q "$IP_AST" "$out" || fail "$WHAT: tcpcopy's message does not name the intercept $IP_AST"
# A clear message says that intercept refused this host (its --allow), not just "reset".
grep -Eqi 'refus|allow' "$out" ||
    fail "$WHAT: tcpcopy's message does not say that intercept refused it (--allow): '$(grep -m1 "$IP_AST" "$out")'"
log "ok: $WHAT: tcpcopy exit $RC: '$(grep -m1 "$IP_AST" "$out")'"
v=$(no_hello "$ONL2")
assert_eq "$v" closed "$WHAT: a raw HELLO from $IP_ONL2"
wait_until "grep -q 'refused peer $IP_ONL2:' $INTERCEPT_LOG" 3 || fail "$WHAT: intercept's log does not name the refused peer $IP_ONL2"
line=$(grep -m1 "refused peer $IP_ONL2:" "$INTERCEPT_LOG")
grep -q -- '--allow' <<<"$line" || fail "$WHAT: the refusal does not name --allow: $line"
grep -qE -- "--allow ${IP_ONL2%.*}\.[0-9]+/[0-9]+" <<<"$line" || fail "$WHAT: the refusal does not suggest an --allow admitting $IP_ONL2: $line"
log "ok: $WHAT: intercept: '${line#*: }'"
WHAT="(a) inside --allow"
TCPCOPY_NAME=tcpcopy-a start_tcpcopy "${TC_ARGS[@]}"
curls 1 20 a
reproduced a 20
stop_tc || fail "(a): tcpcopy or intercept did not stop cleanly"

# ---- (b) shared secret ------------------------------------------------------------------
SECRET="$LAB_DIR/secret" WRONG="$LAB_DIR/wrong" OPEN="$LAB_DIR/secret-0644"
(umask 077 && head -c 24 /dev/urandom | base64 >"$SECRET" && head -c 24 /dev/urandom | base64 >"$WRONG")
install -m 644 "$SECRET" "$OPEN"
INTERCEPT_NAME=intercept-b start_intercept "${ICPT_ARGS[@]}" --secret-file "$SECRET"

WHAT="(b) wrong secret"
run_bounded ip netns exec "$NS_ONL" "$TC_BIN/tcpcopy" "${TC_ARGS[@]}" --secret-file "$WRONG"
[ "$RC" -ne 0 ] || fail "$WHAT: tcpcopy exited 0"
grep -Eqi 'auth|secret' "$out" || fail "$WHAT: tcpcopy's message says nothing about authentication or the secret"
log "ok: $WHAT: tcpcopy exit $RC: '$(grep -Ei -m1 'auth|secret' "$out")'"
wait_until "grep -Eqi '$IP_ONL:[0-9]+.*(auth|secret)' $INTERCEPT_LOG" 3 ||
    fail "$WHAT: intercept's log has no authentication failure naming $IP_ONL"
log "ok: $WHAT: intercept: '$(grep -Ei -m1 "$IP_ONL:[0-9]+.*(auth|secret)" "$INTERCEPT_LOG" | sed 's/^[^ ]* [^ ]* //')'"

WHAT="(b) no secret"
n_auth_lines=$(grep -Eci 'auth|secret' "$INTERCEPT_LOG" || true)
run_bounded ip netns exec "$NS_ONL" "$TC_BIN/tcpcopy" "${TC_ARGS[@]}"
[ "$RC" -ne 0 ] || fail "$WHAT: tcpcopy exited 0"
grep -Eqi 'auth|secret' "$out" || fail "$WHAT: tcpcopy's message says nothing about authentication or --secret-file"
log "ok: $WHAT: tcpcopy exit $RC: '$(grep -Ei -m1 'auth|secret' "$out")'"
wait_until "[ \$(grep -Eci 'auth|secret' $INTERCEPT_LOG) -gt $n_auth_lines ]" 3 ||
    fail "$WHAT: intercept logged nothing about the unauthenticated peer"
log "ok: $WHAT: intercept: '$(grep -Ei 'auth|secret' "$INTERCEPT_LOG" | tail -n 1 | sed 's/^[^ ]* [^ ]* //')'"

WHAT="(b) secret file readable by others"
run_bounded ip netns exec "$NS_ONL" "$TC_BIN/tcpcopy" "${TC_ARGS[@]}" --secret-file "$OPEN"
[ "$RC" -ne 0 ] || fail "$WHAT: tcpcopy exited 0"
grep -q "$OPEN" "$out" || fail "$WHAT: the message does not name the file"
log "ok: $WHAT: tcpcopy exit $RC: '$(grep -m1 "$OPEN" "$out")'"

WHAT="(b) right secret"
TCPCOPY_NAME=tcpcopy-b start_tcpcopy "${TC_ARGS[@]}" --secret-file "$SECRET"
curls 1 100 b
reproduced b 100

# ---- (c) fuzzed frames ------------------------------------------------------------------
WHAT="(c) fuzzed frames"
FUZZ="$LAB_DIR/fuzz.out"
log "chan_fuzz_client.py: 200 connections with the secret, 100 without"
ip netns exec "$ONL2" timeout 40 "$LAB_PY" "$LAB_LIB_DIR/chan_fuzz_client.py" --host "$IP_AST" \
    --port "$CHAN_PORT" --conns 200 --time-limit 20 --seed "${FUZZ_SEED:-1}" --secret-file "$SECRET" \
    >"$FUZZ" 2>&1 || { cat "$FUZZ" >&2; fail "$WHAT: the fuzz client (with the secret) failed or found intercept unreachable"; }
ip netns exec "$ONL2" timeout 30 "$LAB_PY" "$LAB_LIB_DIR/chan_fuzz_client.py" --host "$IP_AST" \
    --port "$CHAN_PORT" --conns 100 --time-limit 15 --seed "$((${FUZZ_SEED:-1} + 1))" \
    >>"$FUZZ" 2>&1 || { cat "$FUZZ" >&2; fail "$WHAT: the fuzz client (no secret) failed or found intercept unreachable"; }
sed 's/^/  /' "$FUZZ"
passed=$(grep -m1 '^fuzz total' "$FUZZ" | grep -oE 'auth passed [0-9]+' | grep -oE '[0-9]+' || echo 0)
kill -0 "$INTERCEPT_PID" 2>/dev/null || fail "$WHAT: intercept died"
kill -0 "$TCPCOPY_PID" 2>/dev/null || fail "$WHAT: the good tcpcopy died"
[ -n "$(on_ast ss -Htn state established "( sport = :$CHAN_PORT and dst $IP_ONL )")" ] ||
    fail "$WHAT: the good tcpcopy's channel is no longer established"
curls 1 50 c
reproduced c 50
[ "$passed" -gt 0 ] || log "warning: $WHAT: no fuzz connection passed the AUTH exchange: the deep frames only reached the handshake"
stop_tc || fail "intercept or tcpcopy did not stop cleanly after the fuzzing"
stats="captured $(ic_stat capture.packets), forwarded $(ic_stat replies.forwarded), peers accepted $(ic_stat peers.accepted), refused $(ic_stat peers.refused.allow_or_limit) (--allow, limit) + $(ic_stat peers.refused.auth) (auth), closed for bad frames $(ic_stat peers.bad_frames)"
pass "allowlist refusal, wrong/no secret refused, right secret 100/100, intercept alive after 300 fuzz connections ($passed authenticated) and still copying 50/50; intercept: $stats"
