# shellcheck shell=bash
# What the -n scenarios share (test_copies_sampled, test_copies_two_intercepts,
# test_copies_offline): every copy of every chosen session reaches the target, exactly so
# many times.

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
