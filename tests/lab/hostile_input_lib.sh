# shellcheck shell=bash
# shellcheck disable=SC2034 # variables for the scenarios that source this file
# What the hostile-input scenarios share (test_hostile_input_ip, _l2, _corrupt_files,
# _seq_far): a curl loop whose requests must all be reproduced, the garbage generator
# (garbage.py) and a phase that runs both and checks that tcpcopy lives on without flooding its
# log. Garbage on the channel port: test_badinput_garbage_frame.sh, test_chan_security_fuzz.sh.
# Sourced after lib.sh.

GARBAGE_RANDOM=${GARBAGE_RANDOM:-10000}
GARBAGE_RATE=${GARBAGE_RATE:-4000}
N_CURL=${N_CURL:-30}
MAX_LOG_LINES=${MAX_LOG_LINES:-200}
CORRUPT_DIR=$TC_SRC/tests/data/corrupt
GARBAGE=$LAB_LIB_DIR/garbage.py

# curl_loop TAG: N_CURL requests /TAG/i, one connection each, 0.1 s apart (background: CURL_PID).
curl_loop() {
    # shellcheck disable=SC2016 # expanded by the inner shell
    ip netns exec "$NS_CLI" timeout 60 bash -c '
        for i in $(seq 1 "$3"); do
            curl -s -o /dev/null --max-time 5 "http://$1/$2/$i" || echo "curl $i failed" >&2
            sleep 0.1
        done' _ "$IP_ONL" "$1" "$N_CURL" 2>"$LAB_DIR/curl-$1.err" &
    CURL_PID=$!
    lab_track "$CURL_PID"
}

# reproduced TAG: every /TAG/ request online is on the target.
reproduced() {
    local n_on n_tg
    wait_until "[ \$(grep -c ' /$1/' $TG_LOG) -ge \$(grep -c ' /$1/' $ON_LOG) ]" 20 || true
    n_on=$(grep -c " /$1/" "$ON_LOG" || true)
    n_tg=$(grep -c " /$1/" "$TG_LOG" || true)
    log "$1: curl requests online $n_on, on the target $n_tg"
    assert_eq "$n_on" "$N_CURL" "$1: curl requests served online"
    assert_eq "$n_tg" "$n_on" "$1: curl requests reproduced"
}

# cap_malformed: captured packets tcpcopy could not parse (its --stats-json).
cap_malformed() { tc_stat capture.malformed; }

# garbage_phase TAG NS GARBAGE_ARGS...: curl loop + garbage, then the checks; sets G_MAL,
# G_SENT, G_LINES, G_EXIT_LINES.
garbage_phase() {
    local tag=$1 ns=$2 l0 l1 rss0 rss1
    shift 2
    l0=$(lines "$TCPCOPY_LOG")
    rss0=$(proc_rss_kb "$TCPCOPY_PID")
    curl_loop "$tag"
    log "$tag: garbage.py $*"
    ip netns exec "$ns" timeout 40 "$LAB_PY" "$GARBAGE" --random "$GARBAGE_RANDOM" \
        --rate "$GARBAGE_RATE" --max-seconds 30 "$@" >"$LAB_DIR/garbage-$tag.out" 2>&1 ||
        fail "$tag: garbage.py failed: $(tail -n 3 "$LAB_DIR/garbage-$tag.out")"
    sed 's/^/  /' "$LAB_DIR/garbage-$tag.out" | paste -sd ' ' | fold -w 160 -s
    wait "$CURL_PID" || true
    G_SENT=$(awk '$1 == "total" { print $3 }' "$LAB_DIR/garbage-$tag.out")
    kill -0 "$TCPCOPY_PID" 2>/dev/null || fail "$tag: tcpcopy died under garbage"
    kill -0 "$INTERCEPT_PID" 2>/dev/null || fail "$tag: intercept died"
    rss1=$(proc_rss_kb "$TCPCOPY_PID")
    log "$tag: tcpcopy alive; VmRSS $((rss0 / 1024)) MB before, $((rss1 / 1024)) MB after"
    reproduced "$tag"
    l1=$(lines "$TCPCOPY_LOG")
    G_LINES=$((l1 - l0))
    _tc_stop_one "$TCPCOPY_PID" tcpcopy "$TCPCOPY_LOG" || fail "$tag: tcpcopy did not stop cleanly"
    TCPCOPY_PID=""
    G_EXIT_LINES=$(($(lines "$TCPCOPY_LOG") - l1))
    G_MAL=$(cap_malformed)
    G_PEAK=$(tc_stat queue.peak_bytes)
    log "$tag: tcpcopy queue peak $G_PEAK bytes for $(tc_stat capture.packets) packets captured"
    log "$tag: tcpcopy log: $G_LINES lines while under garbage, $G_EXIT_LINES at exit"
    grep -vE 'final:' "$TCPCOPY_LOG" | tail -n +"$((l0 + 1))" | cut -c 1-200 | sort | uniq -c |
        sort -rn | firstn 5 | sed 's/^/  most frequent: /' || true
    [ "$G_LINES" -lt "$MAX_LOG_LINES" ] || fail "$tag: $G_LINES log lines under garbage (>= $MAX_LOG_LINES)"
    [ "$G_EXIT_LINES" -lt "$MAX_LOG_LINES" ] || fail "$tag: $G_EXIT_LINES log lines at exit (>= $MAX_LOG_LINES)"
}

# stop_intercept: intercept still running, then stopped cleanly.
stop_intercept() {
    kill -0 "$INTERCEPT_PID" 2>/dev/null || fail "intercept died"
    _tc_stop_one "$INTERCEPT_PID" intercept "$INTERCEPT_LOG" || fail "intercept did not stop cleanly"
    INTERCEPT_PID=""
}
