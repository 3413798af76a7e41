#!/usr/bin/env bash
# Outbound copying (issue 4): with --pcap-capture, tcpcopy also copies the requests the
# online host itself sends to another server. Here the online host (192.0.2.10) is the
# client of a remote nginx on 198.51.100.10:80 (the lab's client host); tcpcopy runs with
# -x 198.51.100.10:80-192.0.2.20:8080 --pcap-capture -i eth0, so the default filter picks the
# host's own outgoing requests to that server, and -c rewrites the host's address (the
# client of these sessions) into 203.0.113.0/24, which the target routes to intercept.
# Asserted: the set of URIs the remote server saw equals the target's, and the target saw
# them only from the fake range.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

N=100
lab_up
start_nginx "$NS_CLI" 80 remote
REMOTE_LOG=$NGINX_LOG
start_nginx "$NS_TGT" 8080 target
TG_LOG=$NGINX_LOG
start_intercept
start_tcpcopy -x "$IP_CLI:80-$IP_TGT:8080" -s 192.0.2.30 -c 203.0.113.x --pcap-capture -i eth0

log "the online host sends $N requests of its own (one connection each), then keep-alive load"
on_onl timeout 120 bash -c '
    for i in $(seq 1 '"$N"'); do
        curl -s -m 5 -o /dev/null "http://'"$IP_CLI"'/out/$i" || echo "curl $i failed" >&2
    done'
WRK_NS=$NS_ONL wrk_count out 4 10000 "http://$IP_CLI/"
assert_ge "$(lines "$REMOTE_LOG")" "$((N + 10000))" "requests the remote server received from the online host"

settle "lines $TG_LOG" 60 "$(lines "$REMOTE_LOG")" >/dev/null
report "$REMOTE_LOG" "$TG_LOG"
stop_tc || fail "tcpcopy or intercept did not stop cleanly"

missing=$(LC_ALL=C comm -23 <(uris "$REMOTE_LOG" | uniq) <(uris "$TG_LOG" | uniq))
[ -z "$missing" ] || fail "$(echo "$missing" | wc -l) URIs the online host requested are not on the target, e.g. $(echo "$missing" | firstn 5 | tr '\n' ' ')"
[ "$(lines "$TG_LOG")" -eq "$(lines "$REMOTE_LOG")" ] ||
    fail "the target saw $(lines "$TG_LOG") requests, the remote server $(lines "$REMOTE_LOG")"
bad=$(awk '$1 !~ /^203\.0\.113\./' "$TG_LOG" | firstn 3 | tr "\n" ";")
[ -z "$bad" ] || fail "target saw requests from outside 203.0.113.0/24 (-c): $bad"
pass "$N_TARGET/$N_ONLINE of the online host's own outbound requests reproduced"
