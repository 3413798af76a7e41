# shellcheck shell=bash
# What the -n scenarios share (test_copies_n50, test_copies_time_wait, test_copies_sampled,
# test_copies_two_intercepts, test_copies_offline): every copy of every chosen session reaches
# the target, exactly so many times.

# copies_of PREFIX COPIES: "N_URIS BAD" for the target's URIs under /PREFIX/: how many
# distinct, and how many of them not seen exactly COPIES times.
copies_of() {
    grep " /$1/" "$TG_LOG" | awk '{ print $4 }' | LC_ALL=C sort | uniq -c |
        awk -v c="$2" '{ n++; if ($1 != c) bad++ } END { print n + 0, bad + 0 }'
}

# stop_copy NAME: stop tcpcopy alone (intercept goes on).
stop_copy() {
    _tc_stop_one "$TCPCOPY_PID" tcpcopy "$TCPCOPY_LOG" || fail "$1: tcpcopy did not stop cleanly"
    TCPCOPY_PID=""
}

# copies_ab_n50 [NAME]: tcpcopy -n COPIES (50) on ab -n N_AB (2000) -c 20 without keep-alive
# (HTTP/1.0: the server closes after each answer), settled until the target has every copy or
# its count stood still; tcpcopy stopped. Sets N_ON (requests online), WANT (N_ON x COPIES),
# N_TG (copies on the target) and ADDRS (fake client addresses seen by the target); tc_stat
# reads this tcpcopy's final counters.
copies_ab_n50() {
    TCPCOPY_NAME=${1:-tcpcopy-n50} start_tcpcopy "${TCPCOPY_ARGS_DEFAULT[@]}" -n "$COPIES"
    log "ab -n $N_AB -c 20 (no keep-alive), -n $COPIES"
    on_cli timeout 120 ab -q -n "$N_AB" -c 20 "http://$IP_ONL/ab/x" >"$LAB_DIR/ab.out" 2>&1 ||
        fail "ab failed: $(tail -n 3 "$LAB_DIR/ab.out")"
    grep -E 'Complete requests|Failed requests' "$LAB_DIR/ab.out" | sed 's/^/  ab: /'
    N_ON=$(grep -c ' /ab/x ' "$ON_LOG" || true)
    assert_eq "$N_ON" "$N_AB" "ab requests served online"
    WANT=$((N_ON * COPIES))
    settle "grep -c ' /ab/x ' $TG_LOG" 150 "$WANT" >/dev/null
    N_TG=$(grep -c ' /ab/x ' "$TG_LOG" || true)
    ADDRS=$(awk '$4 == "/ab/x" { print $1 }' "$TG_LOG" | sort -u | wc -l)
    log "copies on the target: $N_TG of $WANT, from $ADDRS addresses"
    stop_copy "-n $COPIES"
}
