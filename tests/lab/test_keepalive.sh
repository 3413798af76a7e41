#!/usr/bin/env bash
# 2,000 requests over 50 keep-alive connections (50 curl processes, each fetching 40 URLs on
# one connection): the target must see exactly the same multiset of URIs.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

C=50 R=40
lab_up
start_http_copy

log "sending $((C * R)) requests over $C keep-alive connections"
curl_keepalive "$C" "$R" "http://$IP_ONL/ka"
assert_eq "$(lines "$ON_LOG")" "$((C * R))" "requests served online"
conns=$(awk '{ print $1, $2 }' "$ON_LOG" | sort -u | wc -l)
log "distinct client connections online: $conns"
[ "$conns" -ge $((C - 2)) ] && [ "$conns" -le $((C + 5)) ] ||
    fail "expected about $C keep-alive connections online, saw $conns"

settle "lines $TG_LOG" 30 "$((C * R))" >/dev/null
report "$ON_LOG" "$TG_LOG"
tconns=$(awk '{ print $1, $2 }' "$TG_LOG" | sort -u | wc -l)
log "distinct connections on the target: $tconns"
stop_tc || fail "tcpcopy or intercept did not stop cleanly"

if ! d=$(diff <(uris "$ON_LOG") <(uris "$TG_LOG")); then
    fail "URI multisets differ (< online only, > target only): $(echo "$d" | grep '^[<>]' | firstn 8 | tr '\n' ' ')"
fi
pass "$N_TARGET/$N_ONLINE requests reproduced over $tconns connections"
