#!/usr/bin/env bash
# The lab itself, without tcpcopy: addresses, routes, forwarding, and the reply path. A SYN
# spoofed from a fake client (203.0.113.7, as tcpcopy -c would send it) from online to the
# target's nginx must make the target answer toward assist, where it is seen and dropped.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

lab_up
start_nginx "$NS_ONL" 80 online
start_nginx "$NS_TGT" 8080 target

# client -> online through the router
code=$(on_cli curl -s -m 5 -o /dev/null -w '%{http_code}' "http://$IP_ONL/topo") || true
assert_eq "$code" 200 "client GET online"
code=$(on_cli curl -s -m 5 -o /dev/null -w '%{http_code}' "http://[2001:db8:1::10]/topo6") || true
assert_eq "$code" 200 "client GET online over IPv6"
assert_eq "$(awk '{print $1, $4, $5}' "$LAB_DIR/nginx-online/access.log" | firstn 1)" \
    "$IP_CLI /topo 200" "online access log line"

# forwarding: router on, assist off (the black hole)
assert_eq "$(on_rtr sysctl -n net.ipv4.ip_forward)" 1 "router ip_forward"
assert_eq "$(on_ast sysctl -n net.ipv4.ip_forward)" 0 "assist ip_forward"
assert_eq "$(on_ast sysctl -n net.ipv6.conf.all.forwarding)" 0 "assist IPv6 forwarding"

# the target's reply routes
assert_eq "$(on_tgt ip -o route get 203.0.113.7 | awk '{print $3}')" "$IP_AST" "target route to the fake clients"
assert_eq "$(on_tgt ip -o route get "$IP_CLI" | awk '{print $3}')" "$IP_AST" "target route to the clients"

# isolation: only lab links, only documentation prefixes
for ns in "${LAB_NS[@]}"; do
    bad=$(nsx "$ns" ip -o route show | awk '$1 != "default" && $1 !~ /^(192\.0\.2\.|198\.51\.100\.|203\.0\.113\.)/')
    [ -z "$bad" ] || fail "$ns: unexpected route: $bad"
    bad=$(nsx "$ns" ip -o -4 addr show | awk '{print $4}' | grep -vE '^(127\.0\.0\.1|192\.0\.2\.|198\.51\.100\.)' || true)
    [ -z "$bad" ] || fail "$ns: unexpected address: $bad"
done
log "ok: routes and addresses use documentation ranges only"

# the reply path: a spoofed SYN from online; the SYN-ACK must reach assist (and go no further)
cap="$LAB_DIR/assist.txt"
ip netns exec "$NS_AST" timeout 10 tcpdump -l -n -i eth0 -c 1 'tcp and src port 8080 and tcp[tcpflags] & (tcp-syn|tcp-ack) == (tcp-syn|tcp-ack)' \
    >"$cap" 2>"$LAB_DIR/tcpdump.err" &
tdpid=$!
lab_track "$tdpid"
wait_until "grep -q 'listening on' $LAB_DIR/tcpdump.err" 5 || fail "tcpdump did not start"
on_onl "$LAB_PY" - <<'EOF'
import socket, struct
def csum(b):
    if len(b) % 2: b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16: s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff
src, dst = socket.inet_aton("203.0.113.7"), socket.inet_aton("192.0.2.20")
tcp = struct.pack("!HHIIBBHHH", 40007, 8080, 1000, 0, 5 << 4, 0x02, 64240, 0, 0)
tcp = tcp[:16] + struct.pack("!H", csum(src + dst + struct.pack("!BBH", 0, 6, len(tcp)) + tcp)) + tcp[18:]
ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), 1, 0, 64, 6, 0, src, dst)
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
s.sendto(ip + tcp, ("192.0.2.20", 0))
EOF
wait "$tdpid" || true
grep -q '192.0.2.20.8080 > 203.0.113.7.40007' "$cap" || fail "assist did not see the target's SYN-ACK: $(cat "$cap" "$LAB_DIR/tcpdump.err")"
log "ok: target's SYN-ACK to 203.0.113.7 arrived at assist"

# and the target cannot reach the client directly (its replies die at assist)
if reach "$NS_TGT" "$IP_CLI"; then
    fail "target reached the client: assist forwards"
fi
log "ok: assist drops what the target sends to clients"

pass "lab topology"
