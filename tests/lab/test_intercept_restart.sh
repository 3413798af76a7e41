#!/usr/bin/env bash
# intercept dies and comes back under load (issue 5): wrk -t1 -c10 for 14 s with unique URIs
# online, paced (1 ms think time: at most 10,000 requests a second on any machine, so the
# replay asks the same of a fast machine as of a slow one); at t=3 s intercept is killed (SIGKILL, by PID), at t=4 s it is started again with the
# same command line. tcpcopy must reconnect and re-register its live sessions, so that:
#  - copying resumes within RESUME_MAX (2) seconds of the restart: the target's access log,
#    sampled every 0.2 s, grows again by at least 50 requests;
#  - of the requests the production server logged from restart + 2 s on, at least MIN_SHARE
#    (0.95) are reproduced on the target.
# Reported beside them: the share reproduced, among the requests made after the restart, of
# those on connections opened before the kill (wrk's 10 keep-alive connections live through the
# whole run, so these are the sessions in flight when intercept died), and tcpcopy's counters.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

MIN_SHARE=${MIN_SHARE:-0.95}
RESUME_MAX=${RESUME_MAX:-2}
lab_up
start_http_copy

# sleep_until T0 SECS: sleep until SECS seconds after T0 (date +%s.%N).
sleep_until() {
    local d
    d=$(awk -v t0="$1" -v s="$2" -v now="$(date +%s.%N)" 'BEGIN { d = t0 + s - now; print (d > 0 ? d : 0) }')
    sleep "$d"
}

# The sampler: "time target_lines online_lines" every 0.2 s, at most 60 s.
SAMPLES="$LAB_DIR/samples.txt"
(
    trap - EXIT INT TERM
    for ((i = 0; i < 300; i++)); do
        echo "$(date +%s.%N) $(lines "$TG_LOG") $(lines "$ON_LOG")"
        sleep 0.2
    done
) >"$SAMPLES" &
SAMPLER_PID=$!
lab_track "$SAMPLER_PID"

log "intercept killed at t=3 s, restarted at t=4 s"
T0=$(date +%s.%N)
wrk_count_bg ir 10 1000000 "http://$IP_ONL/" 14 1

sleep_until "$T0" 3
n_kill=$(lines "$ON_LOG") tg_kill=$(lines "$TG_LOG")
kill -KILL "$INTERCEPT_PID"
wait "$INTERCEPT_PID" 2>/dev/null || true
OLD_ICPT=$INTERCEPT_PID
wait_until "! listening $NS_AST $CHAN_PORT" 5 || fail "intercept still listens after SIGKILL"
log "t=3: intercept killed (pid $OLD_ICPT); online log $n_kill lines, target $tg_kill"

sleep_until "$T0" 4
T_RESTART=$(date +%s.%N)
n_restart=$(lines "$ON_LOG") tg_restart=$(lines "$TG_LOG")
start_intercept
log "t=4: intercept restarted (pid $INTERCEPT_PID); online log $n_restart lines, target $tg_restart"

sleep_until "$T_RESTART" 2
n_after=$(lines "$ON_LOG")
log "restart + 2 s: online log $n_after lines, target $(lines "$TG_LOG")"
wrk_count_wait ir
n_on=$(lines "$ON_LOG")
assert_ge "$((n_on - n_after))" 1000 "requests served online after restart + 2 s"

settle "lines $TG_LOG" 30 "$n_on" >/dev/null
kill "$SAMPLER_PID" 2>/dev/null || true
wait "$SAMPLER_PID" 2>/dev/null || true
report "$ON_LOG" "$TG_LOG"

# When did the target's log grow again after the restart?
read -r _ resume_delay < <(awk -v t="$T_RESTART" -v base="$tg_restart" '
    $1 >= t && $2 >= base + 50 { printf "%.3f %.2f\n", $1, $1 - t; found = 1; exit }
    END { if (!found) print "none 999" }' "$SAMPLES")
plateau=$(awk -v a="$T_RESTART" -v b="$(awk -v t="$T_RESTART" 'BEGIN { print t - 1 }')" '
    $1 >= b && $1 <= a { if (lo == "") lo = $2; hi = $2 } END { print hi - lo }' "$SAMPLES")
log "target log grew by $plateau requests in the second before the restart; +50 reached $resume_delay s after the restart"
awk -v t0="$T0" '{ printf "%.1f %s %s\n", $1 - t0, $2, $3 }' "$SAMPLES" | awk 'NR % 5 == 1' |
    tr '\n' ';' | sed 's/^/  samples (t target online), every 5th: /; s/;$/\n/'

# Shares, from the logs.
uri_share "$ON_LOG" "$TG_LOG" 1 "$n_kill" before
before_share=$SHARE
uri_share "$ON_LOG" "$TG_LOG" $((n_kill + 1)) "$n_restart" down
down_share=$SHARE
uri_share "$ON_LOG" "$TG_LOG" $((n_after + 1)) '$' after
after_share=$SHARE after_n=$SHARE_N after_hit=$SHARE_HIT
# Connections opened before the kill: the client ports online saw up to the kill.
awk -v n="$n_kill" 'NR <= n { print $2 }' "$ON_LOG" | sort -u >"$LAB_DIR/old-ports.txt"
awk 'NR == FNR { old[$1] = 1; next } FNR > n && ($2 in old)' n="$n_restart" "$LAB_DIR/old-ports.txt" "$ON_LOG" \
    >"$LAB_DIR/online-old-after.log"
uri_share "$LAB_DIR/online-old-after.log" "$TG_LOG" 1 '$' old-sessions
old_share=$SHARE old_n=$SHARE_N old_hit=$SHARE_HIT
log "connections opened before the kill: $(lines "$LAB_DIR/old-ports.txt"); their requests after the restart: $old_n, reproduced $old_hit (share $old_share)"
if [ "$after_hit" -lt "$after_n" ]; then
    awk 'NR == FNR { m[$1] = 1; next } ($4 in m) { print $2 }' "$LAB_DIR/missing-after.txt" "$ON_LOG" |
        sort | uniq -c | sort -rn | firstn 10 | sed 's/^/  missing after restart+2 s, by client port: /'
fi

tc_alive=0
kill -0 "$TCPCOPY_PID" 2>/dev/null && tc_alive=1
assert_eq "$tc_alive" 1 "tcpcopy running at the end"
{ grep -E 'intercept|re-regist|reconnect' "$TCPCOPY_LOG" | grep -v 'copying port' || true; } | firstn 12 | sed 's/^/  tcpcopy: /'
stop_tc || fail "tcpcopy or intercept did not stop cleanly"
rebuilt=$(tc_stat sessions.events.rebuilt) connects=$(tc_stat channel.connects) dropped=$(tc_stat channel.records_dropped)
log "tcpcopy: connects $connects, routes records dropped $dropped, rebuilt $rebuilt"
MSG="resumed $resume_delay s after the restart; from restart+2 s $after_hit/$after_n reproduced (share $after_share); sessions opened before the kill: $old_hit/$old_n of their requests after the restart reproduced (share $old_share); before the kill $before_share, while down $down_share"
log "$MSG"
awk -v d="$resume_delay" -v m="$RESUME_MAX" 'BEGIN { exit !(d <= m) }' ||
    fail "copying did not resume within $RESUME_MAX s of the restart ($MSG)"
assert_ge "$after_share" "$MIN_SHARE" "share of requests from restart + 2 s reproduced"
pass "$MSG"
