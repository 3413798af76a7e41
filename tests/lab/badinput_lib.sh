# shellcheck shell=bash
# shellcheck disable=SC2034 # variables for the scenarios that source this file
# What the bad-input scenarios share (test_badinput_*.sh, and run_bounded for
# test_chan_security_*.sh): a program expected to refuse, run in the foreground with a bound.

# run_bounded CMD...: runs CMD (at most 20 s) with its output in $LAB_DIR/out.txt (OUT), sets
# RC and shows the output. WHAT names the case in the messages.
run_bounded() {
    OUT="$LAB_DIR/out.txt"
    RC=0
    timeout 20 "$@" >"$OUT" 2>&1 || RC=$?
    [ "$RC" -ne 124 ] || fail "$WHAT: still running after 20 s"
    sed 's/^/  | /' "$OUT" >&2
}

# badinput_servers: nginx online and on the target, intercept: only what the case under test
# is about can stop tcpcopy.
badinput_servers() {
    start_nginx "$NS_ONL" 80 online
    ON_LOG=$NGINX_LOG
    start_nginx "$NS_TGT" 8080 target
    TG_LOG=$NGINX_LOG
    start_intercept
}
