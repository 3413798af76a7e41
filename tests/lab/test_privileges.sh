#!/usr/bin/env bash
# Least privilege (-u USER, file capabilities), checked in /proc while a load is copied.
#   1  root with -u nobody, both programs (tcpcopy with -l and -P in a directory nobody owns):
#      while a count-bounded wrk load runs, /proc/PID/status shows Uid and Gid 65534 (all four
#      ids), no supplementary group but nogroup, CapEff, CapPrm, CapInh, CapAmb and CapBnd all
#      zero, NoNewPrivs 1; 100% of the load reproduced on the target. The pid file holds the
#      PID; after the log is renamed, SIGHUP makes tcpcopy (now nobody) create a new one there;
#      at SIGTERM the pid file is removed and the final counters logged.
#   2  setcap'd copies of the binaries (cap_net_raw,cap_net_admin+ep) run by nobody without -u:
#      they start, then hold no capability (CapEff, CapPrm, CapAmb zero; NoNewPrivs 1; the
#      bounding set stays, as only root can empty it); 100% of a second load reproduced.
#   3  the plain binaries run by nobody: refused at startup with the missing privilege named,
#      exit status 1; -u by a non-root user: refused.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

TOTAL=${TOTAL:-10000}
NOBODY_UID=$(id -u nobody)
NOBODY_GID=$(id -g nobody)
command -v setcap >/dev/null || fail "setcap is needed (libcap2-bin, scripts/deps.sh)"
command -v setpriv >/dev/null || fail "setpriv is needed (util-linux)"

lab_up
# nobody must reach the files it is given: the run's directory is traversable, not listable.
chmod 0711 "$LAB_DIR"

# status_field PID NAME: the value of NAME: in /proc/PID/status, blanks squeezed.
status_field() {
    awk -v k="$2:" '$1 == k { $1 = ""; sub(/^ +/, ""); print; exit }' "/proc/$1/status"
}

# check_dropped WHAT PID BND: the ids are nobody's, every capability set is empty (the bounding
# set only when BND is "zero"), no new privileges.
check_dropped() {
    local what=$1 pid=$2 bnd=$3 f
    assert_eq "$(status_field "$pid" Uid)" "$NOBODY_UID $NOBODY_UID $NOBODY_UID $NOBODY_UID" "$what Uid (real effective saved fs)"
    assert_eq "$(status_field "$pid" Gid)" "$NOBODY_GID $NOBODY_GID $NOBODY_GID $NOBODY_GID" "$what Gid"
    for f in CapEff CapPrm CapInh CapAmb; do
        assert_eq "$(status_field "$pid" $f)" 0000000000000000 "$what $f"
    done
    if [ "$bnd" = zero ]; then
        assert_eq "$(status_field "$pid" CapBnd)" 0000000000000000 "$what CapBnd"
        assert_eq "$(status_field "$pid" Groups)" "$NOBODY_GID" "$what Groups"
    else
        log "$what CapBnd $(status_field "$pid" CapBnd) (not root: the bounding set cannot be emptied; NoNewPrivs makes it moot)"
    fi
    assert_eq "$(status_field "$pid" NoNewPrivs)" 1 "$what NoNewPrivs"
}

# copy_load NAME: a count-bounded wrk load, the /proc checks while it runs, 100% reproduced.
copy_load() {
    local name=$1 bnd=$2 from to
    from=$(($(lines "$ON_LOG") + 1))
    wrk_count_bg "$name" 10 "$TOTAL" "http://$IP_ONL/"
    wait_until "[ \$(lines $TG_LOG) -ge $((from + 100)) ]" 30 || fail "$name: nothing copied yet"
    check_dropped "$name: tcpcopy" "$TCPCOPY_PID" "$bnd"
    check_dropped "$name: intercept" "$INTERCEPT_PID" "$bnd"
    wrk_count_wait "$name"
    to=$(lines "$ON_LOG")
    assert_ge "$((to - from + 1))" "$TOTAL" "$name: requests served online"
    settle "grep -c ' /$name/' $TG_LOG" 60 "$((to - from + 1))" >/dev/null
    uri_share "$ON_LOG" "$TG_LOG" "$from" "$to" "$name"
    assert_eq "$SHARE" 1.0000 "$name: share of the load reproduced"
}

# ---- 1: root, -u nobody -------------------------------------------------------------------
start_nginx "$NS_ONL" 80 online
ON_LOG=$NGINX_LOG
start_nginx "$NS_TGT" 8080 target
TG_LOG=$NGINX_LOG
RUN="$LAB_DIR/run"
mkdir -p "$RUN"
chown nobody:"$(id -gn nobody)" "$RUN"
start_intercept -i eth0 -F 'tcp and src port 8080' -u nobody
TCPCOPY_NAME=tcpcopy-stdout start_tcpcopy "${TCPCOPY_ARGS_DEFAULT[@]}" -u nobody -l "$RUN/tcpcopy.log" -P "$RUN/tcpcopy.pid"
TCPCOPY_LOG="$RUN/tcpcopy.log"
grep -q 'privileges dropped: running as nobody' "$INTERCEPT_LOG" || fail "intercept did not log its drop"
grep -q 'privileges dropped: running as nobody' "$TCPCOPY_LOG" || fail "tcpcopy did not log its drop"
assert_eq "$(tr -d ' \n' <"$RUN/tcpcopy.pid")" "$TCPCOPY_PID" "pid file"
copy_load user zero

mv "$RUN/tcpcopy.log" "$RUN/tcpcopy.log.1"
kill -HUP "$TCPCOPY_PID"
wait_until "grep -q 'log reopened' $RUN/tcpcopy.log" 5 || fail "no new log after SIGHUP as nobody"
assert_eq "$(stat -c %U "$RUN/tcpcopy.log")" nobody "owner of the reopened log"
stop_tc || fail "tcpcopy or intercept did not stop cleanly"
[ ! -e "$RUN/tcpcopy.pid" ] || fail "pid file left behind"
grep -q 'final:' "$RUN/tcpcopy.log" || fail "no final counters in the log after the drop"

# ---- 2: file capabilities, no -u ----------------------------------------------------------
CAPBIN="$LAB_DIR/capbin"
WRAP="$LAB_DIR/capwrap"
mkdir -p "$CAPBIN" "$WRAP"
chmod 0755 "$CAPBIN" "$WRAP"
for p in tcpcopy intercept; do
    install -m 0755 "$TC_BIN/$p" "$CAPBIN/$p"
    setcap cap_net_raw,cap_net_admin+ep "$CAPBIN/$p"
    log "$(getcap "$CAPBIN/$p")"
    # ip netns exec runs the wrapper, which becomes setpriv, which becomes the program: one PID.
    printf '#!/bin/sh\nexec setpriv --reuid=%s --regid=%s --clear-groups %s "$@"\n' \
        "$NOBODY_UID" "$NOBODY_GID" "$CAPBIN/$p" >"$WRAP/$p"
    chmod 0755 "$WRAP/$p"
done
REAL_BIN=$TC_BIN
TC_BIN=$WRAP
INTERCEPT_NAME=intercept-caps start_intercept
TCPCOPY_NAME=tcpcopy-caps start_tcpcopy
grep -q 'privileges dropped: running as uid' "$TCPCOPY_LOG" || fail "tcpcopy did not log its drop"
copy_load caps full
stop_tc || fail "tcpcopy or intercept did not stop cleanly"

# ---- 3: no privilege at all ---------------------------------------------------------------
rc=0
out=$(on_onl setpriv --reuid="$NOBODY_UID" --regid="$NOBODY_GID" --clear-groups \
    "$REAL_BIN/tcpcopy" "${TCPCOPY_ARGS_DEFAULT[@]}" 2>&1) || rc=$?
assert_eq "$rc" 1 "tcpcopy without privilege: exit status"
echo "$out" | grep -qiE 'CAP_NET_RAW|permitted|root' || fail "tcpcopy without privilege: no reason given: $out"
log "tcpcopy without privilege: $(echo "$out" | firstn 1)"
rc=0
out=$(on_ast setpriv --reuid="$NOBODY_UID" --regid="$NOBODY_GID" --clear-groups \
    "$CAPBIN/intercept" "${INTERCEPT_ARGS_DEFAULT[@]}" -u daemon 2>&1) || rc=$?
assert_eq "$rc" 1 "intercept -u by a non-root user: exit status"
echo "$out" | grep -q 'only root can change to another user' || fail "intercept -u as nobody: $out"
pass "dropped to nobody with no capabilities (root with -u; setcap'd binaries without), 100% copied in both"
