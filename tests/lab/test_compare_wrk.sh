#!/usr/bin/env bash
# tcpcopy --compare at scale: wrk -c10 sends TOTAL (50,000) keep-alive requests with distinct
# URIs (bounded by count; a think time per connection, below) to nginx online; the target's nginx answers alike (every URI its own
# body) except a known set: URIs ending in 000 or 500 get another body (kind body), URIs
# ending in 777 a 503 (kind status). Asserts: every request served online compared (none not
# compared), every differing request reported with its kind and nothing else: no false
# difference although the Date header differs between the two servers.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/compare_lib.sh"
. "$(dirname "$0")/compare_more_lib.sh"

TOTAL=${TOTAL:-50000}
# A session's answers are paired while the target's replay is at most 256 requests behind
# production (CMP_PAIR_SLOTS, doc/compare.md); past that the oldest is not compared
# (over_limit). Unpaced, wrk -c10 runs each connection faster than its replay (43,239 of
# 50,000 over_limit on the 2-core lab host): a think time per connection keeps production's
# pace per session well below the replay's, at most CONNS * 1000 / THINK_MS requests a second.
CONNS=${CONNS:-20}
THINK_MS=${THINK_MS:-8}
# shellcheck disable=SC2034 # read by lab_up (its watchdog); ctest gives a lab test 300 s
LAB_TIMEOUT=${TC_LAB_TIMEOUT:-280}
lab_up
start_nginx_return "$NS_ONL" 80 online
ON_LOG=$NGINX_LOG
# shellcheck disable=SC2016 # nginx variables, for nginx
start_nginx_return "$NS_TGT" 8080 target \
    'location ~ "[05]00$" { return 200 "another answer for $uri\n"; }
        location ~ "777$" { return 503 "unavailable\n"; }'
TG_LOG=$NGINX_LOG
cmp_start_copy 8080

wrk_count w "$CONNS" "$TOTAL" "http://$IP_ONL/" 120 "$THINK_MS"
n=$(lines "$ON_LOG")
assert_ge "$n" "$TOTAL" "requests served online"
settle "lines $TG_LOG" 120 "$n" >/dev/null
report "$ON_LOG" "$TG_LOG"
cmp_finish "$n"

awk '$4 ~ /([05]00|777)$/ { print $4 }' "$ON_LOG" >"$LAB_DIR/want.txt"
want_diff=$(lines "$LAB_DIR/want.txt")
want_status=$(grep -c '777$' "$LAB_DIR/want.txt" || true)
assert_ge "$want_diff" $((TOTAL * 3 / 1000)) "known differences among the requests (sanity)"
assert_eq "$(summary not_compared)" 0 "requests not compared"
assert_eq "$(summary compared)" "$n" "requests compared (summary.json) = served online"
assert_eq "$(summary different)" "$want_diff" "requests reported different"
assert_eq "$(summary equal)" "$((n - want_diff))" "requests equal"
assert_eq "$(summary noise)" 0 "noise"
assert_eq "$(summary different_by_kind.status)" "$want_status" "differences of kind status"
assert_eq "$(summary different_by_kind.body)" "$((want_diff - want_status))" "differences of kind body"
assert_eq "$(lines "$CMP_DIR/mismatches.jsonl")" "$want_diff" "lines in mismatches.jsonl"
cmp_expect_mismatches "$LAB_DIR/want.txt" status '777$' body '[05]00$'
assert_eq "$(tc_stat compare.different)" "$want_diff" "tcpcopy's compare.different counter"
assert_eq "$(tc_stat compare.equal)" "$((n - want_diff))" "tcpcopy's compare.equal counter"
pass "$n requests, $(summary compared) compared, $want_diff known differences reported ($want_status status), none other"
