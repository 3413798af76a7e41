#!/usr/bin/env bash
# Signals and process management of tcpcopy and intercept, started with -P PIDFILE -l LOGFILE.
#   1  foreground: each writes its PID to its pid file; SIGHUP after the log file was renamed
#      makes each reopen it (new lines in a new file at the old path, none in the renamed
#      one); with N_KA keep-alive connections open (copied, idle at the target), SIGTERM
#      makes tcpcopy exit with status 0, remove its pid file, print its final counters and
#      reset the target sessions (tcpdump on the target sees RSTs from 203.0.113.0/24).
#   2  foreground again: the same with SIGINT; then intercept: SIGTERM, status 0, pid file
#      removed, final counters.
#   3  daemons (-d): the pid file holds the daemon's PID (not the launcher's, which exits 0);
#      SIGHUP reopens the logs; SIGTERM (tcpcopy, resets seen again) and SIGINT (intercept)
#      stop them, pid files removed, final counters in the logs.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

N_KA=${N_KA:-4}
lab_up
command -v tcpdump >/dev/null || fail "tcpdump is needed"
start_nginx "$NS_ONL" 80 online
start_nginx "$NS_TGT" 8080 target
TG_LOG=$NGINX_LOG
ICPT_ARGS=(-i eth0 -F 'tcp and src port 8080')
RST_TOTAL=()

# pidfile_is FILE PID: FILE exists and holds PID.
pidfile_is() { [ -f "$1" ] && [ "$(tr -d ' \n' <"$1")" = "$2" ]; }

# start_fg NAME: intercept or tcpcopy in the foreground with -P and -l under $LAB_DIR/NAME.*;
# sets PID_<NAME> (via the lib's TCPCOPY_PID / INTERCEPT_PID) and checks the pid file.
start_fg() {
    local prog=$1 tag=$2 pidf="$LAB_DIR/$2.pid" logf="$LAB_DIR/$2.log"
    if [ "$prog" = intercept ]; then
        INTERCEPT_NAME=$tag-stdout start_intercept "${ICPT_ARGS[@]}" -P "$pidf" -l "$logf"
        INTERCEPT_LOG=$logf
        pidfile_is "$pidf" "$INTERCEPT_PID" || fail "$tag: pid file $(cat "$pidf" 2>/dev/null) != $INTERCEPT_PID"
    else
        TCPCOPY_NAME=$tag-stdout start_tcpcopy "${TCPCOPY_ARGS_DEFAULT[@]}" -P "$pidf" -l "$logf"
        TCPCOPY_LOG=$logf
        pidfile_is "$pidf" "$TCPCOPY_PID" || fail "$tag: pid file $(cat "$pidf" 2>/dev/null) != $TCPCOPY_PID"
    fi
    log "$tag: pid file $pidf holds the PID"
}

# hup_check TAG PID PATTERN: rename TAG's log, SIGHUP, a new file at the old path gets
# PATTERN (the reopen message); the renamed file does not.
hup_check() {
    local tag=$1 pid=$2 pat=$3 logf="$LAB_DIR/$1.log"
    [ -s "$logf" ] || fail "$tag: log file $logf is empty"
    mv "$logf" "$logf.1"
    kill -HUP "$pid"
    wait_until "grep -q '$pat' $logf" 5 || fail "$tag: no '$pat' in a new $logf after SIGHUP"
    kill -0 "$pid" 2>/dev/null || fail "$tag: exited on SIGHUP"
    ! grep -q "$pat" "$logf.1" || fail "$tag: '$pat' written to the renamed file"
    log "$tag: SIGHUP: new $(basename "$logf") ($(lines "$logf") lines), renamed one $(lines "$logf.1") lines"
}

# some_traffic TAG: 5 curl requests, all reproduced.
some_traffic() {
    local i
    for i in 1 2 3 4 5; do
        on_cli curl -s -o /dev/null --max-time 5 "http://$IP_ONL/$1/$i" || fail "$1: curl failed"
    done
    wait_until "[ \$(grep -c ' /$1/' $TG_LOG) -ge 5 ]" 10 || fail "$1: requests not reproduced"
}

# ka_open TAG: N_KA keep-alive connections, one request each, then held idle (KA_PID);
# waits until the target has served them all.
ka_open() {
    ip netns exec "$NS_CLI" timeout 40 "$LAB_PY" -c '
import socket, sys, time
conns = []
for i in range(int(sys.argv[2])):
    s = socket.create_connection((sys.argv[1], 80), timeout=5)
    s.sendall(("GET /%s/%d HTTP/1.1\r\nHost: x\r\n\r\n" % (sys.argv[3], i)).encode())
    got = b""
    while b"\r\n\r\n" not in got or len(got.split(b"\r\n\r\n", 1)[1]) < 600:
        d = s.recv(4096)
        if not d:
            break
        got += d
    conns.append(s)
print("open", len(conns), flush=True)
time.sleep(30)' "$IP_ONL" "$N_KA" "$1" >"$LAB_DIR/ka-$1.out" 2>&1 &
    KA_PID=$!
    lab_track "$KA_PID"
    wait_until "grep -q open $LAB_DIR/ka-$1.out" 10 || fail "$1: keep-alive client did not start"
    wait_until "[ \$(grep -c ' /$1/' $TG_LOG) -ge $N_KA ]" 10 ||
        fail "$1: the keep-alive requests were not reproduced"
    log "$1: $N_KA keep-alive connections open and copied"
}

# rst_capture_start TAG: tcpdump on the target for RSTs from the fake clients (TD_PID).
rst_capture_start() {
    TD_FILE="$LAB_DIR/rst-$1.pcap"
    ip netns exec "$NS_TGT" tcpdump -Z root --immediate-mode -U -i eth0 -w "$TD_FILE" \
        "tcp[tcpflags] & tcp-rst != 0 and src net $FAKE_NET and dst port 8080" \
        >"$LAB_DIR/tcpdump-$1.log" 2>&1 &
    TD_PID=$!
    lab_track "$TD_PID"
    wait_until "grep -q listening $LAB_DIR/tcpdump-$1.log" 10 || fail "tcpdump did not start"
}

# rst_capture_end TAG: stop tcpdump; RSTS = distinct fake-client connections reset.
rst_capture_end() {
    sleep 0.5
    kill -INT "$TD_PID" 2>/dev/null || true
    wait "$TD_PID" 2>/dev/null || true
    RSTS=$(tcpdump -nr "$TD_FILE" 2>/dev/null | awk '{ print $3 }' | sort -u | wc -l)
    log "$1: RSTs to the target from $RSTS fake-client ports: $(tcpdump -nr "$TD_FILE" 2>/dev/null | awk '{ print $3 }' | sort -u | firstn 6 | tr '\n' ' ')"
    RST_TOTAL+=("$1 $RSTS")
}

# stop_fg TAG PID SIG WHAT_LOG: signal a foreground program, its status must be 0, its pid
# file gone, its final counters printed.
stop_fg() {
    local tag=$1 pid=$2 sig=$3 logf=$4 rc i
    kill "-$sig" "$pid"
    for ((i = 0; i < 100; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -0 "$pid" 2>/dev/null && fail "$tag: still running 10 s after SIG$sig"
    wait "$pid" && rc=0 || rc=$?
    assert_eq "$rc" 0 "$tag: exit status after SIG$sig"
    [ ! -e "$LAB_DIR/$tag.pid" ] || fail "$tag: pid file left behind after SIG$sig"
    grep -qE 'final:|stats:' "$logf" || fail "$tag: no final counters in $logf"
    grep -qE 'Sanitizer|runtime error:' "$logf" "$LAB_DIR/$tag-stdout.log" 2>/dev/null &&
        fail "$tag: sanitizer report"
    grep -E 'final: (sessions|to target)|stats:' "$logf" | tail -n 2 | cut -c 1-260 | sed 's/^/  /'
    log "$tag: SIG$sig: exit 0, pid file removed, counters printed"
}

# ---- 1: foreground, SIGHUP, SIGTERM --------------------------------------------------------
start_fg intercept ic1
start_fg tcpcopy tc1
some_traffic s1
hup_check ic1 "$INTERCEPT_PID" 'log reopened'
hup_check tc1 "$TCPCOPY_PID" 'log reopened'
some_traffic s1b
grep -q 'final:\|copying port' "$LAB_DIR/tc1.log.1" || fail "tc1: the renamed log lost its earlier lines"
ka_open ka1
rst_capture_start 1
stop_fg tc1 "$TCPCOPY_PID" TERM "$LAB_DIR/tc1.log"
TCPCOPY_PID=""
rst_capture_end 1
tc1_rst=$(grep -E 'final: to target' "$LAB_DIR/tc1.log" | grep -oE 'resets [0-9]+' | grep -oE '[0-9]+')
assert_ge "$RSTS" "$N_KA" "tc1: keep-alive target sessions reset at SIGTERM (tcpcopy counted $tc1_rst resets)"
kill "$KA_PID" 2>/dev/null || true

# ---- 2: foreground, SIGINT -----------------------------------------------------------------
start_fg tcpcopy tc2
ka_open ka2
rst_capture_start 2
stop_fg tc2 "$TCPCOPY_PID" INT "$LAB_DIR/tc2.log"
TCPCOPY_PID=""
rst_capture_end 2
assert_ge "$RSTS" "$N_KA" "tc2: keep-alive target sessions reset at SIGINT"
kill "$KA_PID" 2>/dev/null || true
stop_fg ic1 "$INTERCEPT_PID" TERM "$LAB_DIR/ic1.log"
INTERCEPT_PID=""

# ---- 3: daemons ----------------------------------------------------------------------------
# start_daemon PROG TAG ARGS...: run PROG -d -P -l; the launcher must exit 0 at once and the
# pid file name the (different) daemon, which runs PROG. Sets DPID.
start_daemon() {
    local prog=$1 tag=$2 pidf="$LAB_DIR/$2.pid" logf="$LAB_DIR/$2.log" rc lpid ns
    shift 2
    ns=$NS_AST
    [ "$prog" = tcpcopy ] && ns=$NS_ONL
    ip netns exec "$ns" timeout 20 "$TC_BIN/$prog" "$@" -d -P "$pidf" -l "$logf" \
        >"$LAB_DIR/$tag-stdout.log" 2>&1 &
    lpid=$!
    wait "$lpid" && rc=0 || rc=$?
    assert_eq "$rc" 0 "$tag: the launcher's exit status"
    wait_until "[ -s $pidf ]" 5 || fail "$tag: no pid file"
    DPID=$(tr -d ' \n' <"$pidf")
    lab_track "$DPID"
    [ "$DPID" != "$lpid" ] || fail "$tag: the pid file names the launcher"
    kill -0 "$DPID" 2>/dev/null || fail "$tag: pid $DPID from the pid file is not running"
    [ "$(readlink "/proc/$DPID/exe")" = "$(readlink -f "$TC_BIN/$prog")" ] ||
        fail "$tag: pid $DPID runs $(readlink "/proc/$DPID/exe"), not $prog"
    log "$tag: daemon pid $DPID (launcher $lpid exited 0), session leader: $(awk '{ print ($6 == $1) ? "yes" : "no" }' "/proc/$DPID/stat")"
}

# stop_daemon TAG PID SIG: signal a daemon; it must go within 10 s, its pid file too, and its
# log must end with its counters.
stop_daemon() {
    local tag=$1 pid=$2 sig=$3 i
    kill "-$sig" "$pid"
    for ((i = 0; i < 100; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -0 "$pid" 2>/dev/null && fail "$tag: daemon still running 10 s after SIG$sig"
    wait_until "[ ! -e $LAB_DIR/$tag.pid ]" 2 || fail "$tag: pid file left behind after SIG$sig"
    grep -qE 'final:|stats:' "$LAB_DIR/$tag.log" || fail "$tag: no final counters in its log"
    grep -qE 'Sanitizer|runtime error:' "$LAB_DIR/$tag.log" && fail "$tag: sanitizer report"
    log "$tag: daemon stopped by SIG$sig, pid file removed, counters logged"
}

start_daemon intercept ic3 "${ICPT_ARGS[@]}"
IC3=$DPID
wait_until "listening $NS_AST $CHAN_PORT" 10 || fail "ic3: the daemon does not listen"
start_daemon tcpcopy tc3 "${TCPCOPY_ARGS_DEFAULT[@]}"
TC3=$DPID
wait_until "[ -n \"\$(on_ast ss -Htn state established '( sport = :$CHAN_PORT )')\" ]" 10 ||
    fail "tc3: no channel connection to intercept"
some_traffic s3
hup_check ic3 "$IC3" 'log reopened'
hup_check tc3 "$TC3" 'log reopened'
ka_open ka3
rst_capture_start 3
stop_daemon tc3 "$TC3" TERM
rst_capture_end 3
assert_ge "$RSTS" "$N_KA" "tc3: keep-alive target sessions reset by the daemon at SIGTERM"
kill "$KA_PID" 2>/dev/null || true
stop_daemon ic3 "$IC3" INT

pass "pid files, SIGHUP log reopen, SIGTERM/SIGINT exit 0 with counters (foreground), daemons (-d) stopped cleanly; target sessions reset at exit: ${RST_TOTAL[*]} (of $N_KA each)"
