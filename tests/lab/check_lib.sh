# shellcheck shell=bash
# Shared by the setup-doctor scenarios (tests/lab/test_check_*.sh): each injects one fault
# into a working lab and expects `--check --json` to report exactly that finding (by its
# stable id, README.md "Troubleshooting") with exit status 1; test_check_ok.sh expects no
# finding at all and exit status 0.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

CHECK_JSON=""
CHECK_RC=""
CHECK_WAIT=${CHECK_WAIT:-5}

# check_lab_up [no-target] [no-intercept] [INTERCEPT ARGS...]: the lab, nginx online (80)
# and on the target (8080, unless no-target), intercept on assist (unless no-intercept; with
# the lab's usual options unless ARGS are given).
check_lab_up() {
    local target=1 icpt=1
    while [ $# -gt 0 ]; do
        case $1 in
        no-target) target=0 ;;
        no-intercept) icpt=0 ;;
        *) break ;;
        esac
        shift
    done
    lab_up
    start_nginx "$NS_ONL" 80 online
    [ "$target" -eq 0 ] || start_nginx "$NS_TGT" 8080 target
    [ "$icpt" -eq 0 ] || start_intercept "$@"
}

# check_load_bg: a bounded client load on the online service while a check runs (at most
# 400 requests, at most 60 s), so the capture check has packets to see.
check_load_bg() {
    on_cli timeout 60 bash -c "for i in \$(seq 1 400); do curl -s -m 2 http://$IP_ONL/check/\$i >/dev/null; sleep 0.1; done" &
    lab_track $!
}

# run_check PROG NS ARGS...: run PROG --check --json ARGS in NS; the JSON goes to
# $LAB_DIR/check-PROG.json, the exit status to CHECK_RC. Bounded by timeout.
run_check() {
    local prog=$1 ns=$2
    shift 2
    CHECK_JSON="$LAB_DIR/check-$prog.json"
    log "$prog --check --json $*"
    set +e
    ip netns exec "$ns" timeout 120 "$TC_BIN/$prog" --check --json "$@" >"$CHECK_JSON" 2>"$LAB_DIR/check-$prog.err"
    CHECK_RC=$?
    set -e
    sed 's/^/  /' "$CHECK_JSON" >&2
}

# run_tcpcopy_check [ARGS...]: tcpcopy --check on the online host, with the lab's usual
# options (plus ARGS), during a client load.
run_tcpcopy_check() {
    check_load_bg
    run_check tcpcopy "$NS_ONL" "${TCPCOPY_ARGS_DEFAULT[@]}" --check-wait "$CHECK_WAIT" "$@"
}

# _check_ids LEVEL: the ids of the findings of that level, sorted, space-separated.
_check_ids() {
    "$LAB_PY" -c '
import json, sys
d = json.load(open(sys.argv[1]))
print(" ".join(sorted(f["id"] for f in d["findings"] if f["level"] == sys.argv[2])))' "$CHECK_JSON" "$1"
}

# expect_finding ID: the check failed (exit status 1) with exactly one problem, ID.
expect_finding() {
    [ -s "$CHECK_JSON" ] || fail "no JSON output (stderr: $(tail -n 3 "$LAB_DIR"/check-*.err))"
    assert_eq "$(_check_ids fail)" "$1" "the problems found"
    assert_eq "$CHECK_RC" 1 "exit status"
}

# expect_clean: the check passed (exit status 0) with no problem and no warning.
expect_clean() {
    [ -s "$CHECK_JSON" ] || fail "no JSON output (stderr: $(tail -n 3 "$LAB_DIR"/check-*.err))"
    assert_eq "$(_check_ids fail)" "" "the problems found"
    assert_eq "$(_check_ids warn)" "" "the warnings"
    assert_eq "$CHECK_RC" 0 "exit status"
}

# run_intercept_check_with_peer WAIT ARGS...: intercept --check --json --check-wait WAIT ARGS
# on assist, in the background; once it listens, tcpcopy --check (the lab's usual options)
# connects to it as its peer and registers its probe's route, whose target intercept learns.
# tcpcopy's own findings are not judged here. CHECK_JSON and CHECK_RC are intercept's.
run_intercept_check_with_peer() {
    local wait=$1 pid
    shift
    CHECK_JSON="$LAB_DIR/check-intercept.json"
    log "intercept --check --json --check-wait $wait $*"
    ip netns exec "$NS_AST" timeout 120 "$TC_BIN/intercept" --check --json --check-wait "$wait" "$@" \
        >"$CHECK_JSON" 2>"$LAB_DIR/check-intercept.err" &
    pid=$!
    lab_track "$pid"
    wait_until "listening $NS_AST $CHAN_PORT" 10 || fail "intercept --check does not listen"
    check_load_bg
    log "tcpcopy --check as its peer"
    ip netns exec "$NS_ONL" timeout 60 "$TC_BIN/tcpcopy" --check --json "${TCPCOPY_ARGS_DEFAULT[@]}" \
        --check-wait 2 >"$LAB_DIR/check-tcpcopy-peer.json" 2>&1 || true
    set +e
    wait "$pid"
    CHECK_RC=$?
    set -e
    sed 's/^/  /' "$CHECK_JSON" >&2
}
