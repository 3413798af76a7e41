# shellcheck shell=bash
# shellcheck disable=SC2034 # variables for the scenarios that source this file
# What the channel-security scenarios share (test_chan_security_allow, _secret, _fuzz; issue
# 5): a lab with two online hosts (192.0.2.10 and .11), nginx online and on the target, and
# helpers to load and check. Sourced after lib.sh.
. "$(dirname "${BASH_SOURCE[0]}")/badinput_lib.sh"   # run_bounded

TC_ARGS=(-x "80-$IP_TGT:8080" -s "$IP_AST" -c 203.0.113.x)
ICPT_ARGS=(-i eth0 -F 'tcp and src port 8080')
IP_ONL2=192.0.2.11

# chan_lab_up: the lab (two online hosts: ONL2 is the second) and both nginx (ON_LOG, TG_LOG).
chan_lab_up() {
    lab_up 2
    ONL2=${NS_ONLINE[1]}
    start_nginx "$NS_ONL" 80 online
    ON_LOG=$NGINX_LOG
    start_nginx "$NS_TGT" 8080 target
    TG_LOG=$NGINX_LOG
}

# chan_secrets: SECRET and WRONG (mode 0600, different), OPEN (SECRET's bytes, mode 0644).
chan_secrets() {
    SECRET="$LAB_DIR/secret" WRONG="$LAB_DIR/wrong" OPEN="$LAB_DIR/secret-0644"
    (umask 077 && head -c 24 /dev/urandom | base64 >"$SECRET" && head -c 24 /dev/urandom | base64 >"$WRONG")
    install -m 644 "$SECRET" "$OPEN"
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
