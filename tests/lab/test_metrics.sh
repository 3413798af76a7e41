#!/usr/bin/env bash
# --metrics and --stats-json: a count-bounded wrk load (20,000 requests over 10 keep-alive
# connections) while a scraper holds every one of tcpcopy's metrics slots idle; then both
# programs' /metrics pass `promtool check metrics`, their counters agree with the target's
# access log and with each other (tcpcopy's replies = intercept's forwarded records), the
# exposition and the stats file written at exit say the same, and bad HTTP requests get
# 404/405/400 without harming either program.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

TOTAL=20000
CONNS=10
TC_MPORT=9100
IC_MPORT=9101

command -v promtool >/dev/null || fail "promtool not found (apt-get install prometheus; scripts/deps.sh)"

# scrape NS PORT FILE: GET /metrics into FILE; fails unless the answer is 200.
scrape() {
    local code
    code=$(ip netns exec "$1" curl -s -m 5 -o "$3" -w '%{http_code}' "http://127.0.0.1:$2/metrics") ||
        fail "scrape of $1 :$2 failed"
    [ "$code" = 200 ] || fail "scrape of $1 :$2: HTTP $code"
}

# prom_get FILE SERIES: the value of one series (name with its labels, as written) of a
# scrape; a missing series FAILS the test.
prom_get() {
    local v
    v=$(awk -v s="$2" '$1 == s { print $2; found = 1 } END { exit !found }' "$1") ||
        _stat_fail "no series $2 in $1"
    echo "$v"
}

# http_code NS PORT CURL_ARGS...: the status of one request.
http_code() {
    local ns=$1 port=$2
    shift 2
    ip netns exec "$ns" curl -s -m 5 -o /dev/null -w '%{http_code}' "$@" "http://127.0.0.1:$port/${URL_PATH-metrics}" || true
}

lab_up
start_nginx "$NS_ONL" 80 online
ON_LOG=$NGINX_LOG
start_nginx "$NS_TGT" 8080 target
TG_LOG=$NGINX_LOG
start_intercept "${INTERCEPT_ARGS_DEFAULT[@]}" --metrics "127.0.0.1:$IC_MPORT"
start_tcpcopy "${TCPCOPY_ARGS_DEFAULT[@]}" --metrics "127.0.0.1:$TC_MPORT"
wait_until "ip netns exec $NS_ONL ss -Hltn '( sport = :$TC_MPORT )' | grep -q LISTEN" 5 ||
    fail "tcpcopy does not listen on its metrics port"

# The stats files exist from the start, with every area.
for k in sessions.created requests.seen capture.kernel_drops channel.connections_up; do
    tc_stat "$k" >/dev/null
done
for k in capture.packets replies.forwarded routes.entries peers.up; do
    ic_stat "$k" >/dev/null
done
assert_eq "$(tc_stat channel.connections_up)" 2 "tcpcopy's stats file at start: intercept connections up"

# Hostile and idle scrapers during the load: every slot held by a connection that says nothing
# (the endpoint closes them after 5 s); the copy must not notice.
ip netns exec "$NS_ONL" "$LAB_PY" - "$TC_MPORT" <<'PY' >"$LAB_DIR/idle.log" 2>&1 &
import socket, sys, time
port = int(sys.argv[1])
held = []
for i in range(12):
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=2)
        if i % 3 == 0:
            s.sendall(b"GET /metr")          # half a request
        held.append(s)
    except OSError as e:
        print("connect", i, e)
time.sleep(8)
PY
IDLE_PID=$!
lab_track "$IDLE_PID"

wrk_count m "$CONNS" "$TOTAL" "http://$IP_ONL/"
N_ON=$(lines "$ON_LOG")
assert_ge "$N_ON" "$TOTAL" "requests served online"
N_TG=$(settle "lines $TG_LOG" 60 "$N_ON")
assert_eq "$N_TG" "$N_ON" "requests on the target (access log)"
wait "$IDLE_PID" 2>/dev/null || true

# Bad requests: answered with their status, never a crash.
assert_eq "$(URL_PATH= http_code "$NS_ONL" "$TC_MPORT")" 404 "tcpcopy GET /"
assert_eq "$(URL_PATH=metricsx http_code "$NS_ONL" "$TC_MPORT")" 404 "tcpcopy GET /metricsx"
assert_eq "$(http_code "$NS_ONL" "$TC_MPORT" -X POST -d x)" 405 "tcpcopy POST /metrics"
assert_eq "$(http_code "$NS_AST" "$IC_MPORT" -X DELETE)" 405 "intercept DELETE /metrics"
assert_eq "$(URL_PATH=x http_code "$NS_AST" "$IC_MPORT")" 404 "intercept GET /x"
for port_ns in "$TC_MPORT:$NS_ONL" "$IC_MPORT:$NS_AST"; do
    ip netns exec "${port_ns#*:}" "$LAB_PY" - "${port_ns%%:*}" <<'PY' || fail "garbage client failed"
import socket, sys
port = int(sys.argv[1])
def ask(data):
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    try:
        s.sendall(data)
        s.shutdown(socket.SHUT_WR)
        out = b""
        while True:
            b = s.recv(65536)
            if not b:
                break
            out += b
        return out
    except OSError:  # reset, or closed before our shutdown: the server answered early
        return b"reset"
    finally:
        s.close()
assert ask(b"\x00\xff" * 3000).split(b" ")[:2] in ([b"HTTP/1.1", b"400"], [b"reset"]), "binary"
assert ask(b"GET /metrics HTTP/9.9\r\n\r\n").startswith(b"HTTP/1.1 400"), "version"
assert ask(b"GET /metrics HTTP/1.1\r\n" + b"X: " + b"a" * 5000 + b"\r\n\r\n")[:12] in (b"HTTP/1.1 400", b"reset"), "oversize"
assert ask(b"\r\n\r\n").startswith(b"HTTP/1.1 400"), "empty"
assert ask(b"GET /met") == b"", "cut"
PY
done
log "ok: 404, 405 and 400 answers; binary, oversize and cut requests"

scrape "$NS_ONL" "$TC_MPORT" "$LAB_DIR/tcpcopy.prom"
scrape "$NS_AST" "$IC_MPORT" "$LAB_DIR/intercept.prom"
for p in tcpcopy intercept; do
    promtool check metrics <"$LAB_DIR/$p.prom" >"$LAB_DIR/promtool-$p.out" 2>&1 || {
        cat "$LAB_DIR/promtool-$p.out" >&2
        fail "promtool check metrics: $p"
    }
done
log "ok: promtool check metrics: tcpcopy ($(grep -vc '^#' "$LAB_DIR/tcpcopy.prom") series), intercept ($(grep -vc '^#' "$LAB_DIR/intercept.prom") series)"

T=$LAB_DIR/tcpcopy.prom
I=$LAB_DIR/intercept.prom
VERSION=$("$TC_BIN/tcpcopy" -v | awk '{ print $2 }')
assert_eq "$(prom_get "$T" "tcpcopy_build_info{version=\"$VERSION\"}")" 1 "tcpcopy_build_info"
assert_eq "$(prom_get "$I" "intercept_build_info{version=\"$VERSION\"}")" 1 "intercept_build_info"
SEEN=$(prom_get "$T" tcpcopy_requests_seen_total)
ANSWERED=$(prom_get "$T" tcpcopy_requests_answered_total)
CREATED=$(prom_get "$T" tcpcopy_sessions_created_total)
log "tcpcopy: requests seen $SEEN, answered $ANSWERED, sessions $CREATED; online $N_ON, target $N_TG"
assert_eq "$ANSWERED" "$SEEN" "requests answered by the target = requests seen"
assert_eq "$(prom_get "$T" tcpcopy_copy_ratio)" 1 "tcpcopy_copy_ratio"
# A request boundary is a request after an answer: each connection's first request has none,
# and a close after an answer makes one; so the online log's count is within one per session.
assert_ge "$SEEN" "$((N_ON - CREATED))" "requests seen (online requests - sessions)"
assert_ge "$((N_ON + CREATED))" "$SEEN" "online requests + sessions >= requests seen"
assert_ge "$(prom_get "$T" tcpcopy_target_data_packets_total)" "$N_ON" "data packets sent to the target"
assert_eq "$(prom_get "$T" tcpcopy_replies_total)" "$(prom_get "$I" intercept_replies_forwarded_total)" \
    "tcpcopy's replies = intercept's forwarded records"
assert_eq "$(prom_get "$T" 'tcpcopy_capture_kernel_drops_total')" 0 "tcpcopy kernel drops"
assert_eq "$(prom_get "$T" 'tcpcopy_requests_not_replayed_total{reason="capture_gap"}')" 0 "requests lost to capture gaps"
assert_eq "$(prom_get "$T" 'tcpcopy_channel_connections_up')" 2 "channel connections up"
assert_eq "$(prom_get "$I" 'intercept_peers_up')" 2 "intercept peers up"
LAG_N=$(prom_get "$I" intercept_capture_lag_samples_total)
assert_ge "$LAG_N" "$(prom_get "$I" intercept_replies_forwarded_total)" "intercept lag samples (one per reply)"
# The channel's lag end to end (CHAN_FEAT_CLOCK): measured from the start, and sane on one
# machine (well under a second; a lab without load has it near a millisecond).
TLAG_N=$(prom_get "$T" tcpcopy_channel_lag_samples_total)
assert_ge "$TLAG_N" 1 "tcpcopy's channel lag samples"
TLAG_MS=$(awk -v s="$(prom_get "$T" tcpcopy_channel_lag_seconds_total)" -v n="$TLAG_N" 'BEGIN { printf "%.3f", s / n * 1000 }')
assert_ge 1000 "$TLAG_MS" "tcpcopy's mean channel lag (ms), at most"
log "tcpcopy: mean channel lag $TLAG_MS ms over $TLAG_N batches (clock offset $(prom_get "$T" tcpcopy_channel_clock_offset_seconds) s)"
log "intercept: mean capture-to-forwarding lag $(awk -v s="$(prom_get "$I" intercept_capture_lag_seconds_total)" -v n="$LAG_N" 'BEGIN { printf "%.1f us", n ? s / n * 1e6 : 0 }')"

stop_tc || fail "tcpcopy or intercept did not stop cleanly"
# The stats file written at exit says what the idle endpoint said (nothing moved since), and
# every session ended with an outcome.
assert_eq "$(tc_stat requests.seen)" "$SEEN" "stats file = exposition: requests.seen"
assert_eq "$(tc_stat requests.answered)" "$ANSWERED" "stats file = exposition: requests.answered"
assert_eq "$(tc_stat capture.packets)" "$(prom_get "$T" tcpcopy_capture_packets_total)" "stats file = exposition: capture.packets"
assert_eq "$(ic_stat replies.forwarded)" "$(prom_get "$I" intercept_replies_forwarded_total)" "stats file = exposition: replies.forwarded"
OUTC=()
for o in "${TC_OUTCOMES[@]}"; do OUTC+=("sessions.outcome.$o"); done
assert_eq "$(stat_sum "$(stats_file "$TCPCOPY_LOG")" "${OUTC[@]}")" "$(tc_stat sessions.created)" "sessions ended = sessions created"
assert_eq "$(tc_lost_at_end)" 0 "requests not replayed at session end"
grep -q 'Sanitizer' "$LAB_DIR/idle.log" && fail "idle scraper: $(cat "$LAB_DIR/idle.log")"
pass "online $N_ON, target $N_TG, seen $SEEN = answered $ANSWERED, promtool clean"
