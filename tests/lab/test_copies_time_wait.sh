#!/usr/bin/env bash
# -n on target tuples the target still remembers (issue 25): a first tcpcopy -n 50 on ab
# -n 2000 -c 20 without keep-alive leaves the target with its tuples in TIME-WAIT (the load of
# test_copies_n50.sh, here only the setting); at once a new tcpcopy -n 5 on a keep-alive wrk
# load (bounded by count): every copy of every request arrives, exactly 5 times.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/copies_lib.sh"

N_AB=${N_AB:-2000}
COPIES=${COPIES:-50}
N_KA=${N_KA:-20000}
lab_up
start_http_servers
copies_ab_n50

tw=$(on_tgt ss -Htan state time-wait '( sport = :8080 )' | wc -l)
log "tuples in TIME-WAIT on the target: $tw"
TCPCOPY_NAME=tcpcopy-n5 start_tcpcopy "${TCPCOPY_ARGS_DEFAULT[@]}" -n 5
from=$(($(lines "$ON_LOG") + 1))
wrk_count ka 10 "$N_KA" "http://$IP_ONL/"
n_ka=$(grep -c ' /ka/' "$ON_LOG" || true)
settle "grep -c ' /ka/' $TG_LOG" 120 "$((n_ka * 5))" >/dev/null
stop_copy "-n 5"
awk '$4 ~ /^\/ka\// { print $4 }' "$TG_LOG" | LC_ALL=C sort | uniq -c | awk '$1 != 5 { n++ } END { print n + 0 }' \
    >"$LAB_DIR/not5.txt"
uri_share "$ON_LOG" "$TG_LOG" "$from" '$' ka
moved=$(tc_stat sessions.events.moved_tuple) stale=$(tc_stat sessions.events.stale_syn_answer)
log "-n 5: SYNs answered by an older connection $stale, sessions moved to a fresh tuple $moved"
assert_eq "$(grep -c ' /ka/' "$TG_LOG" || true)" "$((n_ka * 5))" "-n 5: copies on the target"
assert_eq "$SHARE" 1.0000 "-n 5: share of requests reproduced"
assert_eq "$(cat "$LAB_DIR/not5.txt")" 0 "-n 5: URIs not copied exactly 5 times"
stop_tc || fail "intercept did not stop cleanly"
pass "-n 5 after $tw TIME-WAIT tuples: $((n_ka * 5))/$((n_ka * 5)) (moved $moved, stale SYNs $stale)"
