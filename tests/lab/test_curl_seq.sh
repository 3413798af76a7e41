#!/usr/bin/env bash
# 200 sequential curl requests, one connection each, to distinct URLs: the target must see
# the same set of URIs as the production server, from the fake client range (-c).
set -euo pipefail
. "$(dirname "$0")/lib.sh"

N=200
lab_up
start_http_copy

log "sending $N sequential requests from the client"
on_cli timeout 120 bash -c '
    for i in $(seq 1 '"$N"'); do
        curl -s -m 5 -o /dev/null "http://'"$IP_ONL"'/seq/$i" || echo "curl $i failed" >&2
    done'
assert_eq "$(lines "$ON_LOG")" "$N" "requests served online"

settle "lines $TG_LOG" 30 "$N" >/dev/null
report "$ON_LOG" "$TG_LOG"
stop_tc || fail "tcpcopy or intercept did not stop cleanly"

dups=$(uris "$TG_LOG" | uniq -d | wc -l)
[ "$dups" -eq 0 ] || log "warning: $dups URIs were requested more than once on the target"
missing=$(LC_ALL=C comm -23 <(uris "$ON_LOG" | uniq) <(uris "$TG_LOG" | uniq))
extra=$(LC_ALL=C comm -13 <(uris "$ON_LOG" | uniq) <(uris "$TG_LOG" | uniq))
[ -z "$missing" ] || fail "$(echo "$missing" | wc -l) URIs not reproduced on the target, e.g. $(echo "$missing" | firstn 5 | tr '\n' ' ')"
[ -z "$extra" ] || fail "URIs on the target that were never requested online: $(echo "$extra" | firstn 5 | tr '\n' ' ')"
bad=$(awk '$1 !~ /^203\.0\.113\./' "$TG_LOG" | firstn 3 | tr "\n" ";")
[ -z "$bad" ] || fail "target saw requests from outside 203.0.113.0/24 (-c): $bad"
pass "$N/$N URIs reproduced"
