#!/usr/bin/env bash
# Two mirror hosts fed the same mirror port split the work: tcpcopy --shard 0/2 on one and
# --shard 1/2 on the other. Load: 1,000 short connections and a 20,000-request keep-alive
# load over 40 connections. Union 100%: the target serves every request served online, and
# exactly once (the multisets of URIs are equal: no session copied twice, none missed); both
# shards did part of the work, and the sessions they created add up to the connections made.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/impair.sh"
. "$(dirname "$0")/mirror_lib.sh"

lab_up
mirror_host 1
mirror_host 2
span_ports 1 2
start_http_servers
declare -a PIDS LOGS
for k in 1 2; do
    NS_TCPCOPY=${MIRROR_NS[k]} TCPCOPY_NAME="tcpcopy-shard$k" start_tcpcopy \
        -x "$IP_ONL:80-$IP_TGT:8080" -s "$IP_AST" -c 203.0.113.x -i span0 --promisc \
        --shard "$((k - 1))/2"
    PIDS[k]=$TCPCOPY_PID
    LOGS[k]=$TCPCOPY_LOG
done

short_sessions 1000 short
wrk_count sh 40 "${TOTAL:-20000}" "http://$IP_ONL/"
settle "lines $TG_LOG" 60 "$(lines "$ON_LOG")" >/dev/null
report "$ON_LOG" "$TG_LOG"
compare_uris "$ON_LOG" "$TG_LOG"
bad=0
for k in 1 2; do
    _tc_stop_one "${PIDS[k]}" "tcpcopy shard $k" "${LOGS[k]}" || bad=1
done
TCPCOPY_PID=""
_tc_stop_one "$INTERCEPT_PID" intercept "$INTERCEPT_LOG" || bad=1
INTERCEPT_PID=""
[ "$bad" -eq 0 ] || fail "a tcpcopy or intercept did not stop cleanly"

c1=$(stat_get "$(stats_file "${LOGS[1]}")" sessions.created)
c2=$(stat_get "$(stats_file "${LOGS[2]}")" sessions.created)
assert_ge "$c1" 100 "sessions created by shard 0/2"
assert_ge "$c2" 100 "sessions created by shard 1/2"
# 1,000 short connections and wrk's 40, plus any connection wrk opened at its stop and
# never used: a session copied twice or missed shows in the URIs below.
assert_ge "$((c1 + c2))" 1040 "sessions created by both shards (1,000 short + 40 wrk)"
assert_ge 1080 "$((c1 + c2))" "sessions created by both shards, at most"
assert_eq "$N_TARGET" "$N_ONLINE" "requests reproduced on the target"
assert_eq "$URI_MISSING" 0 "URIs missing on the target"
assert_eq "$URI_EXTRA" 0 "URIs on the target twice or never served online"
pass "2 shards: $N_TARGET/$N_ONLINE requests, sessions $c1 + $c2, none missed or copied twice"
