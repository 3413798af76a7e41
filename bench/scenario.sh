#!/usr/bin/env bash
# One run of one benchmark scenario, in its own lab (tests/lab/lib.sh): run by bench/run.sh.
#   bash bench/scenario.sh SCENARIO OUT.kv
# Writes key=value figures to OUT.kv, ending with complete=yes when the run finished.
# Scenarios: ka10 ka50 ka50pcap ka50v6 ka100 short bulk idle offline floor floorshort fanin compare (see bench/README.md). Root, TC_BIN = build dir.
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "$0")" && pwd)
SCEN=${1:?scenario}
OUT=${2:?output file}
# shellcheck disable=SC2034 # LAB_NAME is read by lib.sh
LAB_NAME="bench-$SCEN"
export TC_LAB_TIMEOUT=${TC_LAB_TIMEOUT:-300}
# shellcheck disable=SC1091
. "$BENCH_DIR/../tests/lab/lib.sh"

DUR=${BENCH_DURATION:-10}            # seconds of wrk load
BULK_MB=${BULK_MB:-200}              # bulk body, 10^6 bytes
IDLE_N=${IDLE_N:-20000}              # idle sessions
HZ=$(getconf CLK_TCK)
: >"$OUT"

kv() { echo "$1=$2" >>"$OUT"; }

# --- measurements ---------------------------------------------------------------------------

# proc_cpu_s PID: utime + stime of PID, seconds.
proc_cpu_s() {
    awk -v hz="$HZ" '{ sub(/^.*\) /, ""); printf "%.3f", ($12 + $13) / hz }' "/proc/$1/stat"
}

# proc_kb PID FIELD: a "kB" field of /proc/PID/status (VmRSS, VmHWM).
proc_kb() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status"; }

# per10k SECONDS REQUESTS
per10k() { awk -v c="$1" -v n="$2" 'BEGIN { if (n > 0) printf "%.4f", c / (n / 10000); else print "" }'; }

# sample_tc REQUESTS: CPU and peak RSS of tcpcopy and intercept, just before they stop.
sample_tc() {
    local n=$1 c
    if [ -n "$TCPCOPY_PID" ] && [ -r "/proc/$TCPCOPY_PID/stat" ]; then
        c=$(proc_cpu_s "$TCPCOPY_PID")
        kv tc_cpu_s "$c"
        kv cpu10k "$(per10k "$c" "$n")"
        kv tc_hwm_kb "$(proc_kb "$TCPCOPY_PID" VmHWM)"
        kv tc_rss_kb "$(proc_kb "$TCPCOPY_PID" VmRSS)"
    fi
    if [ -n "$INTERCEPT_PID" ] && [ -r "/proc/$INTERCEPT_PID/stat" ]; then
        c=$(proc_cpu_s "$INTERCEPT_PID")
        kv ic_cpu_s "$c"
        kv ic_cpu10k "$(per10k "$c" "$n")"
        kv ic_hwm_kb "$(proc_kb "$INTERCEPT_PID" VmHWM)"
    fi
}

# BENCH_PERF=FILE: record tcpcopy's call graphs with perf during the load (for profiling; the
# CPU figures of such a run are not comparable).
PERF_PID=""
perf_start() {
    [ -n "${BENCH_PERF:-}" ] || return 0
    perf record -q -g -o "$BENCH_PERF" -p "$TCPCOPY_PID" >/dev/null 2>&1 &
    PERF_PID=$!
}
perf_stop() {
    [ -n "$PERF_PID" ] || return 0
    kill -INT "$PERF_PID" 2>/dev/null || true
    wait "$PERF_PID" 2>/dev/null || true
    PERF_PID=""
}

stop_both() {
    if stop_tc; then kv stop_ok yes; else kv stop_ok no; fi
}

# --- the floor (issue 23): bench/floor.c on the same load, at the same time ------------------

FLOOR_PID=""
# floor_start: build bench/floor.c (FLOOR_BIN: a binary built already, e.g. by run.sh) and run
# it in online beside tcpcopy: it forwards the same datagrams to target:9 (closed: nothing
# there disturbs the copy, the target's resets go to assist where intercept's filter drops
# them) with the same fake sources.
floor_start() {
    local bin=${FLOOR_BIN:-}
    if [ -z "$bin" ] || [ ! -x "$bin" ]; then
        bin="$LAB_DIR/floor"
        cc -O2 -g -std=c11 -Wall -Wextra -Werror -o "$bin" "$BENCH_DIR/floor.c" || fail "floor: build failed"
    fi
    FLOOR_LOG="$LAB_DIR/floor.log"
    ip netns exec "$NS_ONL" "$bin" -p 80 -t "$IP_TGT:9" -c 203.0.113 >"$FLOOR_LOG" 2>&1 &
    FLOOR_PID=$!
    lab_track "$FLOOR_PID"
    sleep 0.3
    kill -0 "$FLOOR_PID" 2>/dev/null || fail "floor exited at start: $(cat "$FLOOR_LOG")"
    log "floor running (pid $FLOOR_PID)"
}

# floor_sample REQUESTS: the floor's CPU (and tcpcopy's as a multiple of it), then stop it.
floor_sample() {
    local n=$1 c tc
    [ -n "$FLOOR_PID" ] || return 0
    c=$(proc_cpu_s "$FLOOR_PID")
    kv floor_cpu_s "$c"
    kv floor_cpu10k "$(per10k "$c" "$n")"
    tc=$(awk -F= '$1 == "tc_cpu_s" { print $2 }' "$OUT")
    kv floor_x "$(awk -v t="$tc" -v f="$c" 'BEGIN { if (f > 0 && t != "") printf "%.2f", t / f }')"
    kill -TERM "$FLOOR_PID" 2>/dev/null || true
    wait "$FLOOR_PID" 2>/dev/null || true
    FLOOR_PID=""
    log "$(tail -n 1 "$FLOOR_LOG")"
    kv floor_received "$(awk '/^floor: received/ { print $3 }' "$FLOOR_LOG")"
    kv floor_sent "$(awk '/^floor: received/ { print $5 }' "$FLOOR_LOG")"
}

# --- servers --------------------------------------------------------------------------------

# bench_intercept / bench_tcpcopy [ARGS...]: start_intercept / start_tcpcopy with ARGS (the
# lab's defaults without), then the words of BENCH_INTERCEPT_ARGS / BENCH_TCPCOPY_ARGS.
bench_intercept() {
    [ $# -gt 0 ] || set -- "${INTERCEPT_ARGS_DEFAULT[@]}"
    # shellcheck disable=SC2086 # split into words on purpose
    start_intercept "$@" ${BENCH_INTERCEPT_ARGS:-}
}
bench_tcpcopy() {
    [ $# -gt 0 ] || set -- "${TCPCOPY_ARGS_DEFAULT[@]}"
    # shellcheck disable=SC2086 # split into words on purpose
    start_tcpcopy "$@" ${BENCH_TCPCOPY_ARGS:-}
}

# bench_nginx NS PORT NAME [WORKERS]: like lib.sh's start_nginx (600-byte page, same log
# fields) plus $msec as the last field of each access-log line, as many connections as the
# file-descriptor limit allows, and WORKERS processes (reuseport spreads the connections).
bench_nginx() {
    local ns=$1 port=$2 name=$3 workers=${4:-1} dir nofile conns reuse=""
    dir="$LAB_DIR/nginx-$name"
    nginx_page "$dir"
    nofile=$(ulimit -Hn)
    [ "$nofile" = unlimited ] && nofile=65536
    [ "$nofile" -gt 65536 ] && nofile=65536
    conns=$((nofile - 200))
    [ "$workers" -gt 1 ] && reuse=" reuseport"
    # shellcheck disable=SC2016 # $msec is nginx's variable
    nginx_run "$ns" "$port" "$name" "keepalive_requests 1000000;
    keepalive_timeout 300;
    server {
        listen $port backlog=4096$reuse;
        listen [::]:$port backlog=4096$reuse;
        root $dir/html;
        default_type text/html;
        location / {
            try_files /page.html =404;
        }
    }" "worker_processes $workers;
worker_rlimit_nofile $nofile;
events { worker_connections $conns; }" ' $msec'
    log "nginx $name ($workers worker(s), $conns connections each) on $ns:$port (pid $NGINX_PID)"
}

# oncpu_s MASTER_PID: seconds on CPU (schedstat, ns resolution) of an nginx master's workers.
oncpu_s() {
    local w t=0
    for w in $(pgrep -P "$1"); do
        t=$((t + $(awk '{ print $1 }' "/proc/$w/schedstat" 2>/dev/null || echo 0)))
    done
    awk -v t="$t" 'BEGIN { printf "%.3f", t / 1e9 }'
}

client_tuning() {
    # Many connections from one client address: widen its port range (namespaced sysctls).
    on_cli sysctl -qw net.ipv4.ip_local_port_range="1024 65000" net.ipv4.tcp_tw_reuse=1
}

# --- wrk scenarios: ka10, ka50, ka100, short ------------------------------------------------------

# wrk_run PREFIX OUTFILE: the scenario's load; prints wrk's Requests/sec.
wrk_run() {
    local prefix=$1 out=$2 rc=0 args
    args=(-t"$THREADS" -c"$CONNS" -d"${DUR}s" --timeout 5s -s "${WRK_SCRIPT:-$BENCH_DIR/uris.lua}"
        "${WRK_URL:-http://$IP_ONL/}" -- "$prefix")
    [ "$MODE" = close ] && args+=(close)
    on_cli timeout $((DUR + 30)) wrk "${args[@]}" >"$out" 2>&1 || rc=$?
    [ "$rc" -eq 0 ] || log "wrk exited with status $rc"
    sed 's/^/  /' "$out" >&2
    awk '/^Requests\/sec:/ { print $2 }' "$out"
}

# TC_CAPTURE_ARGS: capture options of the scenario, after the lab's default command line
# (ka50pcap: --pcap-capture -i eth0); TC_BASE_ARGS replaces that command line and WRK_URL the
# online server's URL (ka50v6: the same over IPv6).
run_wrk_scenario() {
    local rps join
    lab_up
    client_tuning
    bench_nginx "$NS_ONL" 80 online
    ON_LOG=$NGINX_LOG
    bench_nginx "$NS_TGT" 8080 target
    TG_LOG=$NGINX_LOG

    log "ceiling: wrk -t$THREADS -c$CONNS -d${DUR}s ($MODE), no tcpcopy"
    rps=$(wrk_run c "$LAB_DIR/wrk-ceiling.txt")
    kv ceiling "${rps:-}"
    kv ceiling_unit req/s
    kv ceiling_requests "$(lines "$ON_LOG")"
    sleep 1
    : >"$ON_LOG" # nginx appends (O_APPEND): the copied run starts an empty log

    bench_intercept
    # shellcheck disable=SC2086 # split into words on purpose
    bench_tcpcopy ${TC_BASE_ARGS:-"${TCPCOPY_ARGS_DEFAULT[@]}"} ${TC_CAPTURE_ARGS:-}
    [ -z "${FLOOR:-}" ] || floor_start
    log "load: wrk -t$THREADS -c$CONNS -d${DUR}s ($MODE), with tcpcopy"
    perf_start
    rps=$(wrk_run r "$LAB_DIR/wrk-load.txt")
    perf_stop
    kv load_rps "${rps:-}"
    settle "lines $TG_LOG" 120 "$(lines "$ON_LOG")" 5 >/dev/null
    join=$("$LAB_PY" "$BENCH_DIR/benchlib.py" join "$ON_LOG" "$TG_LOG")
    echo "$join" >>"$OUT"
    sample_tc "$(echo "$join" | awk -F= '$1 == "online" { print $2 }')"
    floor_sample "$(echo "$join" | awk -F= '$1 == "online" { print $2 }')"
    stop_both
    # Packets the kernel dropped from tcpcopy's capture (ring or socket buffer full): each
    # is a hole in a session; the ratio shows what the holes cost.
    kv kernel_drops "$(tc_stat capture.kernel_drops)"
    # How tcpcopy's sends went: frames per sendmmsg call, packets per request.
    kv send_frames "$(tc_stat send.packets)"
    kv send_batches "$(tc_stat send.batches)"
    echo "$join" | tr '\n' ' ' >&2
    echo >&2
}

# --- bulk -----------------------------------------------------------------------------------

mtime() { stat -c %.6Y "$1"; }

run_bulk() {
    local body size on_rec tg_rec out t0 on_bin tg_bin on_size tg_size t_tg on_sha tg_sha
    local tgt_bytes_cmd limit=()
    [ -n "${BULK_LIMIT:-}" ] && limit=(--limit-rate "$BULK_LIMIT")
    body=${BENCH_BODY:-}
    size=$((BULK_MB * 1000000))
    lab_up
    start_recorder "$NS_ONL" 0.0.0.0 81 online
    on_rec=$REC_DIR
    start_recorder "$NS_TGT" 0.0.0.0 8081 target
    tg_rec=$REC_DIR
    if [ -z "$body" ] || [ "$(stat -c %s "$body" 2>/dev/null || echo 0)" -ne "$size" ]; then
        body="$LAB_DIR/body.bin"
        head -c "$size" /dev/urandom >"$body"
    fi
    kv bulk_mb "$BULK_MB"
    [ -n "${BULK_LIMIT:-}" ] && kv bulk_limit "$BULK_LIMIT"

    log "ceiling: one POST of $BULK_MB MB to the recorder, no tcpcopy"
    out=$(on_cli curl -sS -m 120 "${limit[@]}" --data-binary "@$body" -o /dev/null \
        -w '%{http_code} %{time_total}' "http://$IP_ONL:81/ceil/1") || fail "ceiling curl: $out"
    log "ceiling curl: $out"
    kv ceiling "$(echo "$out" | awk -v s="$size" '{ if ($2 > 0) printf "%.1f", s / $2 / 1e6 }')"
    kv ceiling_unit MB/s
    sleep 1
    rm -f "$on_rec"/*.bin

    bench_intercept -i eth0 -F 'tcp and src port 8081'
    bench_tcpcopy -x 81-192.0.2.20:8081 -s 192.0.2.30 -c 203.0.113.x
    log "load: one POST of $BULK_MB MB, with tcpcopy"
    perf_start
    t0=$(date +%s.%N)
    out=$(on_cli curl -sS -m 120 "${limit[@]}" --data-binary "@$body" -o /dev/null \
        -w '%{http_code} %{time_total}' "http://$IP_ONL:81/bulk/1") || fail "curl: $out"
    log "curl: $out"
    kv online_mbps "$(echo "$out" | awk -v s="$size" '{ if ($2 > 0) printf "%.1f", s / $2 / 1e6 }')"
    tgt_bytes_cmd="find $tg_rec -name '*.bin' -printf '%s\n' | awk '{ s += \$1 } END { print s + 0 }'"
    settle_stable "$tgt_bytes_cmd" 120 3 >/dev/null
    perf_stop
    on_bin=$(find "$on_rec" -name '*.bin' | firstn 1)
    tg_bin=$(find "$tg_rec" -name '*.bin' -printf '%s %p\n' | sort -rn | awk 'NR == 1 { print $2 }')
    [ -n "$on_bin" ] || fail "no online recording"
    on_size=$(stat -c %s "$on_bin")
    tg_size=0 t_tg=""
    if [ -n "$tg_bin" ]; then
        tg_size=$(stat -c %s "$tg_bin")
        t_tg=$(mtime "$tg_bin")
    fi
    on_sha=$(awk '$4 == "/bulk/1" { print $6 }' "$on_rec/requests.log" | firstn 1)
    tg_sha=$(awk '$4 == "/bulk/1" { print $6 }' "$tg_rec/requests.log" | firstn 1)
    log "online: $on_size bytes, body sha256 $on_sha; target: $tg_size bytes, body sha256 ${tg_sha:-none}"
    kv online 1
    if [ -n "$on_sha" ] && [ "$on_sha" = "$tg_sha" ]; then
        kv reproduced 1
        kv sha_equal yes
    else
        kv reproduced 0
        kv sha_equal no
    fi
    kv ratio "$(awk -v a="$on_size" -v b="$tg_size" 'BEGIN { if (a > 0) printf "%.4f", b / a; else print 0 }')"
    if [ -n "$t_tg" ]; then
        kv mbps "$(awk -v b="$tg_size" -v a="$t0" -v e="$t_tg" 'BEGIN { if (e > a) printf "%.1f", b / (e - a) / 1e6 }')"
    fi
    # The rate the online server received the body at, on the same clock as the copy's (from
    # t0, before curl starts, to its recording's last write): curl's own figure starts later
    # (after its exec and connect), which made the copy look slower than it was.
    kv online_rec_mbps "$(awk -v b="$on_size" -v a="$t0" -v e="$(mtime "$on_bin")" 'BEGIN { if (e > a) printf "%.1f", b / (e - a) / 1e6 }')"
    if [ -n "$t_tg" ] && [ "$tg_size" -eq "$on_size" ]; then
        kv lag_ms "$(awk -v a="$(mtime "$on_bin")" -v e="$t_tg" 'BEGIN { printf "%.0f", (e - a) * 1000 }')"
    fi
    # Why the target dropped segments, if it did (its namespace's TCP counters).
    log "target TCP drops: $(on_tgt nstat -az 2>/dev/null | awk '$1 ~ /^TcpExt(TCPRcvQDrop|TCPOFODrop|TCPZeroWindowDrop|PruneCalled|RcvPruned|OfoPruned|TCPBacklogDrop|TCPOFOQueue|TCPDSACKRecv|TCPDSACKOfoRecv|TCPRcvCollapsed)$/ { printf "%s %s ", $1, $2 }')"
    sample_tc 1
    kv tc_cpu_s_per_gb "$(awk -v c="$(awk -F= '$1 == "tc_cpu_s" { print $2 }' "$OUT")" -v b="$on_size" \
        'BEGIN { if (b > 0) printf "%.3f", c / (b / 1e9) }')"
    # CPU per 10k requests means nothing for one request.
    sed -i '/^cpu10k=/d; /^ic_cpu10k=/d' "$OUT"
    stop_both
    rm -f "$on_rec"/*.bin "$tg_rec"/*.bin
}

# --- idle -----------------------------------------------------------------------------------

run_idle() {
    local rss0 irss0 rss1 irss1 ready rel pid ans n_tgt join est
    lab_up
    client_tuning
    # 4 workers each: one process may not hold 20,000 descriptors here (hard RLIMIT_NOFILE).
    bench_nginx "$NS_ONL" 80 online 4
    ON_LOG=$NGINX_LOG
    bench_nginx "$NS_TGT" 8080 target 4
    TG_LOG=$NGINX_LOG
    bench_intercept
    bench_tcpcopy
    sleep 1
    rss0=$(proc_kb "$TCPCOPY_PID" VmRSS)
    irss0=$(proc_kb "$INTERCEPT_PID" VmRSS)
    kv rss_before_kb "$rss0"
    ready="$LAB_DIR/idle.ready" rel="$LAB_DIR/idle.release"
    log "opening $IDLE_N idle keep-alive sessions to online:80"
    ip netns exec "$NS_CLI" "$LAB_PY" "$BENCH_DIR/idle_client.py" --host "$IP_ONL" --port 80 \
        --n "$IDLE_N" --procs 4 --ready "$ready" --release "$rel" --open-timeout 120 --hold 150 \
        >"$LAB_DIR/idle_client.log" 2>&1 &
    pid=$!
    lab_track "$pid"
    wait_until "[ -f $ready ] || ! kill -0 $pid" 150 || true
    [ -f "$ready" ] || fail "idle client: not ready after 150 s: $(tail -n 5 "$LAB_DIR/idle_client.log")"
    read -r ans _ _ <"$ready"
    log "idle client: $(cat "$ready") (answered failed seconds)"
    n_tgt=$(settle "lines $TG_LOG" 60 "$(lines "$ON_LOG")" 5)
    est=$(on_tgt ss -Htn state established '( sport = :8080 )' | wc -l)
    log "target: $n_tgt requests logged, $est sessions established"
    rss1=$(proc_kb "$TCPCOPY_PID" VmRSS)
    irss1=$(proc_kb "$INTERCEPT_PID" VmRSS)
    kv sessions "$ans"
    kv target_established "$est"
    kv rss_during_kb "$rss1"
    kv rss_delta_kb $((rss1 - rss0))
    kv ic_rss_delta_kb $((irss1 - irss0))
    kv bytes_per_session "$(awk -v d=$((rss1 - rss0)) -v n="$ans" 'BEGIN { if (n > 0) printf "%.0f", d * 1024 / n }')"
    join=$("$LAB_PY" "$BENCH_DIR/benchlib.py" join "$ON_LOG" "$TG_LOG")
    echo "$join" >>"$OUT"
    sample_tc "$(echo "$join" | awk -F= '$1 == "online" { print $2 }')"
    touch "$rel"
    wait_until "! kill -0 $pid" 30 || log "idle client still running 30 s after release"
    stop_both
    echo "$join" | tr '\n' ' ' >&2
    echo >&2
}

# --- offline --------------------------------------------------------------------------------

OFF_CONNS=${OFFLINE_CONNS:-50}       # wrk connections while recording
OFF_DUR=${OFFLINE_DURATION:-5}       # seconds of wrk while recording
OFF_DELAY=${OFFLINE_DELAY_MS:-10}    # think time before each request of a connection, ms
OFF_CAP_DUR=${OFFLINE_CAPACITY_DURATION:-3} # seconds of full-speed wrk measuring the capacity
# nginx workers of online and target: one per core, as Debian's nginx.conf (worker_processes
# auto). Online is idle while the replay runs, so the target may use the machine.
OFF_WORKERS=${OFFLINE_WORKERS:-$(nproc)}

# kv_get FILE KEY: the value of KEY in a key=value file (empty when absent).
kv_get() { awk -F= -v k="$2" '$1 == k { v = substr($0, length(k) + 2) } END { print v }' "$1"; }

# div A B [FORMAT]: A / B, empty when B is 0.
div() { awk -v a="$1" -v b="$2" -v f="${3:-%.2f}" 'BEGIN { if (b + 0 > 0) printf f, a / b }'; }

run_offline() {
    local cap td tdlog wrk_script rps capacity dropped n_on cap_s sessions rc ru join replay_s target_s cpu n_tg tg_cpu0 tg_cpu
    [[ $OFF_DELAY =~ ^[0-9]+$ ]] || { echo "OFFLINE_DELAY_MS: a number of ms expected" >&2; exit 2; }
    [[ $OFF_WORKERS =~ ^[1-9][0-9]?$ ]] || { echo "OFFLINE_WORKERS: 1 to 99 expected" >&2; exit 2; }
    lab_up
    client_tuning
    bench_nginx "$NS_ONL" 80 online "$OFF_WORKERS"
    ON_LOG=$NGINX_LOG
    bench_nginx "$NS_TGT" 8080 target "$OFF_WORKERS"
    TG_LOG=$NGINX_LOG TG_PID=$NGINX_PID
    kv target_workers "$OFF_WORKERS"

    # ---- capacity: the same connections with no think time and no tcpcopy, the fastest this
    # kind of server answers them here (online and target run the same nginx configuration):
    # capacity / recorded rate is the speed-up wrk itself reaches against that server.
    # One wrk thread per nginx worker: one thread alone may not saturate two workers.
    log "capacity: wrk -t$OFF_WORKERS -c$OFF_CONNS -d${OFF_CAP_DUR}s (keep-alive, no think time) to online:80, no tcpcopy"
    capacity=$(THREADS=$OFF_WORKERS CONNS=$OFF_CONNS DUR=$OFF_CAP_DUR MODE=keepalive wrk_run k "$LAB_DIR/wrk-capacity.txt")
    kv capacity_rps "${capacity:-}"
    sleep 1
    : >"$ON_LOG"

    # ---- record: both directions of port 80 on online's eth0, whole packets
    cap="$LAB_DIR/online.pcap" tdlog="$LAB_DIR/tcpdump.log"
    ip netns exec "$NS_ONL" tcpdump -Z root -i eth0 -s 0 -B 65536 -w "$cap" 'tcp port 80' \
        >"$tdlog" 2>&1 &
    td=$!
    lab_track "$td"
    wait_until "grep -q listening $tdlog || ! kill -0 $td" 10 || true
    grep -q listening "$tdlog" || fail "tcpdump did not start: $(tail -n 3 "$tdlog")"
    log "recording: wrk -t1 -c$OFF_CONNS -d${OFF_DUR}s (keep-alive, $OFF_DELAY ms between a connection's requests) to online:80, tcpdump on its eth0"
    wrk_script=$BENCH_DIR/uris.lua
    if [ "$OFF_DELAY" -gt 0 ]; then
        wrk_script=$LAB_DIR/uris-paced.lua
        { cat "$BENCH_DIR/uris.lua"; printf 'function delay()\n    return %d\nend\n' "$OFF_DELAY"; } >"$wrk_script"
    fi
    kv capture_delay_ms "$OFF_DELAY"
    rps=$(THREADS=1 CONNS=$OFF_CONNS DUR=$OFF_DUR MODE=keepalive WRK_SCRIPT=$wrk_script \
        wrk_run o "$LAB_DIR/wrk-record.txt")
    kv capture_wrk_rps "${rps:-}"
    sleep 1 # the connections' FINs
    kill -INT "$td" 2>/dev/null || true
    wait_until "! kill -0 $td" 10 || { log "tcpdump still running 10 s after SIGINT"; kill -KILL "$td" 2>/dev/null || true; }
    wait "$td" 2>/dev/null || true
    sed 's/^/  tcpdump: /' "$tdlog" >&2
    dropped=$(awk '/packets dropped by kernel/ { print $1 }' "$tdlog")
    [ -n "$dropped" ] || fail "tcpdump did not report its drops"
    kv capture_dropped "$dropped"
    [ "$dropped" -eq 0 ] || fail "tcpdump: $dropped packets dropped by the kernel (the capture is incomplete)"
    "$LAB_PY" "$BENCH_DIR/benchlib.py" pcap "$cap" 80 >"$LAB_DIR/pcap.kv"
    cap_s=$(kv_get "$LAB_DIR/pcap.kv" capture_s)
    sessions=$(kv_get "$LAB_DIR/pcap.kv" sessions)
    n_on=$(lines "$ON_LOG")
    kv capture_s "$cap_s"
    kv capture_packets "$(kv_get "$LAB_DIR/pcap.kv" packets)"
    kv capture_mb "$(div "$(stat -c %s "$cap")" 1000000 %.1f)"
    kv sessions "$sessions"
    kv ceiling "$(div "$n_on" "$cap_s" %.0f)"
    kv ceiling_unit req/s
    log "capture: $(tr '\n' ' ' <"$LAB_DIR/pcap.kv")requests $n_on, $(stat -c %s "$cap") bytes"
    if [ "$n_on" -eq 0 ] || [ "$sessions" -eq 0 ]; then
        fail "nothing recorded ($n_on requests, $sessions sessions)"
    fi

    # ---- replay as fast as the target answers
    : >"$TG_LOG"
    bench_intercept
    tg_cpu0=$(oncpu_s "$TG_PID")
    TCPCOPY_LOG="$LAB_DIR/tcpcopy.log" ru="$LAB_DIR/tcpcopy.rusage"
    log "replay: tcpcopy ${TCPCOPY_ARGS_DEFAULT[*]} -i $cap --fast ${BENCH_TCPCOPY_ARGS:-}"
    # Not start_tcpcopy: an offline tcpcopy exits by itself once the target has answered
    # everything. The wrapper measures its wall time, CPU (wait4) and peak RSS.
    # shellcheck disable=SC2086 # BENCH_TCPCOPY_ARGS: split into words on purpose
    ip netns exec "$NS_ONL" timeout 200 "$LAB_PY" "$BENCH_DIR/benchlib.py" rusage "$ru" \
        "$TC_BIN/tcpcopy" "${TCPCOPY_ARGS_DEFAULT[@]}" -i "$cap" --fast ${BENCH_TCPCOPY_ARGS:-} \
        >"$TCPCOPY_LOG" 2>&1 &
    TCPCOPY_PID=$!
    lab_track "$TCPCOPY_PID"
    wait "$TCPCOPY_PID" && rc=0 || rc=$?
    TCPCOPY_PID=""
    grep -E 'final:' "$TCPCOPY_LOG" | sed 's/^/  /' >&2 || true
    kv tc_rc "$rc"
    [ "$rc" -eq 0 ] || fail "offline tcpcopy exited with status $rc"
    if grep -qE 'Sanitizer|runtime error:' "$TCPCOPY_LOG"; then fail "tcpcopy: sanitizer report"; fi
    replay_s=$(kv_get "$ru" wall_s)
    kv replay_s "$replay_s"
    # From tcpcopy's log: when it had read the whole file ("... packets in T s").
    kv read_s "$(grep -oE 'packets in [0-9.]+ s' "$TCPCOPY_LOG" | tail -n 1 | grep -oE '[0-9.]+' || true)"
    n_tg=$(settle "lines $TG_LOG" 60 "$(lines "$ON_LOG")" 5)
    # When the target logged its last request, from tcpcopy's start: the replay without the
    # second of quiet tcpcopy waits for before it exits (its sign that the target is done).
    target_s=$(awk -v s="$(kv_get "$ru" start)" '{ t = $NF } END { if (NR) printf "%.3f", t - s }' "$TG_LOG")
    kv target_s "$target_s"
    # ... and its first: tcpcopy's start-up (file, sockets, channel, first handshakes).
    kv target_first_s "$(awk -v s="$(kv_get "$ru" start)" 'NR == 1 { printf "%.3f", $NF - s }' "$TG_LOG")"
    # How busy the target's nginx workers were while the replay lasted, in % of one core: near
    # 100 per worker (or, with more workers than cores, near the cores left to them), the target,
    # not tcpcopy, sets the pace.
    tg_cpu=$(awk -v a="$tg_cpu0" -v b="$(oncpu_s "$TG_PID")" 'BEGIN { printf "%.3f", b - a }')
    kv target_cpu_s "$tg_cpu"
    kv target_busy_pct "$(div "$(awk -v c="$tg_cpu" 'BEGIN { print c * 100 }')" "$target_s" %.0f)"
    # ... and tcpcopy's own share of that time: what it could reach with a target that costs nothing.
    kv tc_busy_pct "$(div "$(awk -v u="$(kv_get "$ru" utime_s)" -v s="$(kv_get "$ru" stime_s)" 'BEGIN { print (u + s) * 100 }')" "$target_s" %.0f)"
    log "replay: exit $rc after $replay_s s, target logged $n_tg requests"

    join=$("$LAB_PY" "$BENCH_DIR/benchlib.py" join "$ON_LOG" "$TG_LOG" | grep -v '^lat_')
    echo "$join" >>"$OUT"
    n_on=$(echo "$join" | awk -F= '$1 == "online" { print $2 }')
    cpu=$(awk -v u="$(kv_get "$ru" utime_s)" -v s="$(kv_get "$ru" stime_s)" 'BEGIN { printf "%.3f", u + s }')
    kv tc_cpu_s "$cpu"
    kv cpu10k "$(per10k "$cpu" "$n_on")"
    kv tc_hwm_kb "$(kv_get "$ru" hwm_kb)"
    kv x_realtime "$(div "$cap_s" "$replay_s")"
    kv x_realtime_answered "$(div "$cap_s" "$target_s")"
    kv sessions_per_s "$(div "$sessions" "$replay_s" %.1f)"
    kv replay_rps "$(div "$(echo "$join" | awk -F= '$1 == "reproduced" { print $2 }')" "$replay_s" %.0f)"
    # The most a replay could reach: capacity over the recorded rate (n_on / cap_s).
    kv x_capacity "$(awk -v c="${capacity:-0}" -v n="$n_on" -v s="$cap_s" 'BEGIN { if (n > 0 && s > 0 && c > 0) printf "%.2f", c * s / n }')"
    kv replay_pct_capacity "$(awk -v r="$(kv_get "$OUT" replay_rps)" -v c="${capacity:-0}" 'BEGIN { if (c > 0 && r != "") printf "%.0f", r * 100 / c }')"
    sample_tc "$n_on"   # intercept's CPU and peak RSS (tcpcopy has exited)
    stop_both
    echo "$join" | tr '\n' ' ' >&2
    echo >&2
}

# --- fanin (issue 23): 1, 2, 4, 8 online hosts with one tcpcopy each, one intercept ----------

FANIN_TOTAL=${FANIN_TOTAL:-40000}   # requests per step, split evenly over its hosts
FANIN_CONNS=${FANIN_CONNS:-10}      # wrk connections per host

# oncpu_pid_s PID: seconds on CPU of one process (schedstat, ns resolution: the 10 ms ticks
# of /proc/PID/stat are too coarse for intercept's share of a 40,000-request step).
oncpu_pid_s() { awk '{ printf "%.4f", $1 / 1e9 }' "/proc/$1/schedstat"; }

# fanin_range K: host K's fake client range for -c (30 addresses: 203.0.113.(30K+1)..(30K+30)),
# so that two hosts never hand the target the same address and port.
fanin_range() {
    local k=$1 i out=""
    for ((i = k * 30 + 1; i <= k * 30 + 30; i++)); do out+="${out:+,}203.0.113.$i"; done
    echo "$out"
}

# fanin_step N: a fresh intercept and one tcpcopy on each of hosts 0..N-1, FANIN_TOTAL / N
# requests (wrk, bounded by count) on each host at once; every host's copy checked by URI set,
# intercept's CPU per 10k forwarded replies.
fanin_step() {
    local n=$1 k per pids=() logs=() total=0 hit=0 min_share=1 ic0 ic tcc=0 bad=0 fwd
    per=$((FANIN_TOTAL / n))
    for ((k = 0; k < 8; k++)); do : >"${FANIN_ON[$k]}"; done
    : >"$TG_LOG"
    INTERCEPT_NAME="intercept-$n" bench_intercept
    for ((k = 0; k < n; k++)); do
        NS_TCPCOPY=${NS_ONLINE[$k]} TCPCOPY_NAME="tcpcopy-$n-$k" \
            bench_tcpcopy -x "80-$IP_TGT:8080" -s "$IP_AST" -c "$(fanin_range "$k")"
        pids[k]=$TCPCOPY_PID
        logs[k]=$TCPCOPY_LOG
    done
    TCPCOPY_PID=""
    ic0=$(oncpu_pid_s "$INTERCEPT_PID")
    log "fan-in $n host(s): $per requests on each at once (wrk -t1 -c$FANIN_CONNS)"
    for ((k = 0; k < n; k++)); do
        wrk_count_bg "f${n}h$k" "$FANIN_CONNS" "$per" "http://192.0.2.$((10 + k))/" 120
    done
    for ((k = 0; k < n; k++)); do
        wrk_count_wait "f${n}h$k"
        total=$((total + $(lines "${FANIN_ON[$k]}")))
    done
    settle "lines $TG_LOG" 120 "$total" 5 >/dev/null
    ic=$(awk -v a="$ic0" -v b="$(oncpu_pid_s "$INTERCEPT_PID")" 'BEGIN { printf "%.4f", b - a }')
    for ((k = 0; k < n; k++)); do
        uri_share "${FANIN_ON[$k]}" "$TG_LOG" 1 '$' "f${n}h$k" >&2
        min_share=$(awk -v a="$min_share" -v b="$SHARE" 'BEGIN { print (b < a ? b : a) }')
        hit=$((hit + SHARE_HIT))
        tcc=$(awk -v a="$tcc" -v b="$(proc_cpu_s "${pids[$k]}")" 'BEGIN { printf "%.3f", a + b }')
    done
    for ((k = 0; k < n; k++)); do
        _tc_stop_one "${pids[$k]}" "tcpcopy $n/$k" "${logs[$k]}" >&2 || bad=1
    done
    _tc_stop_one "$INTERCEPT_PID" "intercept $n" "$INTERCEPT_LOG" >&2 || bad=1
    INTERCEPT_PID=""
    fwd=$(ic_stat replies.forwarded)
    kv "fanin${n}_online" "$total"
    kv "fanin${n}_reproduced" "$hit"
    kv "fanin${n}_min_share" "$min_share"
    kv "fanin${n}_ic_cpu_s" "$ic"
    kv "fanin${n}_forwarded" "$fwd"
    kv "fanin${n}_ic10k" "$(per10k "$ic" "$fwd")"
    kv "fanin${n}_tc10k" "$(per10k "$tcc" "$total")"
    [ "$bad" -eq 0 ] || kv stop_ok no
    log "fan-in $n: $total requests, lowest host share $min_share, intercept $ic s for $fwd replies"
}

run_fanin() {
    local k n
    lab_up 8
    client_tuning
    FANIN_ON=()
    for ((k = 0; k < 8; k++)); do
        bench_nginx "${NS_ONLINE[$k]}" 80 "on$k"
        FANIN_ON[k]=$NGINX_LOG
    done
    bench_nginx "$NS_TGT" 8080 target
    TG_LOG=$NGINX_LOG
    for n in 1 2 4 8; do fanin_step "$n"; done
    # The table's row: the 8-host step; ratio: the lowest host share of any step.
    kv online "$(kv_get "$OUT" fanin8_online)"
    kv reproduced "$(kv_get "$OUT" fanin8_reproduced)"
    kv ratio "$(awk -F= '$1 ~ /^fanin[0-9]+_min_share$/ { v = (v == "" || $2 < v) ? $2 : v } END { printf "%.4f", v }' "$OUT")"
    kv cpu10k "$(kv_get "$OUT" fanin8_tc10k)"
    kv ic_cpu10k "$(kv_get "$OUT" fanin8_ic10k)"
    kv fanin_scale "$(div "$(kv_get "$OUT" fanin8_ic10k)" "$(kv_get "$OUT" fanin1_ic10k)")"
    grep -q '^stop_ok=no$' "$OUT" || kv stop_ok yes
}

# --- compare (issue 20, "Cost"): the ka50 load without and with --compare ------------------

# cmp_done: requests with a result so far (equal + different + not compared), as tcpcopy
# counts them now.
cmp_done() {
    tc_stat_now compare.requests >/dev/null
    stat_sum "$(stats_file "$TCPCOPY_LOG")" compare.equal compare.different compare.not_compared
}

# compare_phase plain|payload|compare PREFIX: a fresh intercept and tcpcopy (plain: the ka50
# command lines; compare: intercept --payload --secret-file, tcpcopy --secret-file --compare
# DIR, the channel in TLS 1.3; payload: the same channel without the comparison, tcpcopy
# --channel-payload), the ka50 wrk load with URI prefix PREFIX, the copy checked by URI set;
# figures as PREFIX_* keys (compare: also the table's keys). BENCH_PERF: the compare part's
# profile; BENCH_COMPARE_ARGS: options added to the compare part's tcpcopy only (word-split).
compare_phase() {
    local mode=$1 p=$2 rps join n c ic
    : >"$ON_LOG"
    : >"$TG_LOG"
    if [ "$mode" = compare ]; then
        INTERCEPT_NAME="intercept-$p" bench_intercept "${INTERCEPT_ARGS_DEFAULT[@]}" \
            --payload --secret-file "$SECRET"
        # shellcheck disable=SC2086 # BENCH_COMPARE_ARGS: split into words on purpose
        TCPCOPY_NAME="tcpcopy-$p" bench_tcpcopy "${TCPCOPY_ARGS_DEFAULT[@]}" \
            --secret-file "$SECRET" --compare "$LAB_DIR/compare" ${BENCH_COMPARE_ARGS:-}
    elif [ "$mode" = payload ]; then
        INTERCEPT_NAME="intercept-$p" bench_intercept "${INTERCEPT_ARGS_DEFAULT[@]}" \
            --payload --secret-file "$SECRET"
        TCPCOPY_NAME="tcpcopy-$p" bench_tcpcopy "${TCPCOPY_ARGS_DEFAULT[@]}" \
            --secret-file "$SECRET" --channel-payload
    else
        INTERCEPT_NAME="intercept-$p" bench_intercept
        TCPCOPY_NAME="tcpcopy-$p" bench_tcpcopy
    fi
    log "load ($mode): wrk -t$THREADS -c$CONNS -d${DUR}s ($MODE)"
    [ "$mode" != compare ] || perf_start
    rps=$(wrk_run "$p" "$LAB_DIR/wrk-$p.txt")
    perf_stop
    kv "${p}_load_rps" "${rps:-}"
    settle "lines $TG_LOG" 120 "$(lines "$ON_LOG")" 5 >/dev/null
    join=$("$LAB_PY" "$BENCH_DIR/benchlib.py" join "$ON_LOG" "$TG_LOG")
    n=$(echo "$join" | awk -F= '$1 == "online" { print $2 }')
    # Every request has its result once both answers are in (wrk's connections have closed).
    [ "$mode" = compare ] && settle_to_counter cmp_done compare.requests 60 >/dev/null
    c=$(proc_cpu_s "$TCPCOPY_PID")
    ic=$(proc_cpu_s "$INTERCEPT_PID")
    echo "$join" | awk -v p="${p}_" '{ print p $0 }' >>"$OUT"
    kv "${p}_cpu10k" "$(per10k "$c" "$n")"
    kv "${p}_ic_cpu10k" "$(per10k "$ic" "$n")"
    kv "${p}_hwm_kb" "$(proc_kb "$TCPCOPY_PID" VmHWM)"
    if [ "$mode" = compare ]; then
        kv load_rps "${rps:-}"
        echo "$join" >>"$OUT"
        sample_tc "$n"
    fi
    if stop_tc; then kv "${p}_stop_ok" yes; else kv "${p}_stop_ok" no; kv stop_ok no; fi
    if [ "$mode" = compare ]; then
        # After the stop: the final summary.json and counters.
        kv compared "$(stat_get "$LAB_DIR/compare/summary.json" compared)"
        kv cmp_equal "$(stat_get "$LAB_DIR/compare/summary.json" equal)"
        kv cmp_different "$(stat_get "$LAB_DIR/compare/summary.json" different)"
        kv cmp_not_compared "$(stat_get "$LAB_DIR/compare/summary.json" not_compared)"
        kv cmp_seen "$(tc_stat compare.requests)"
        kv cmp_share "$(div "$(kv_get "$OUT" compared)" "$(kv_get "$OUT" cmp_seen)" %.4f)"
        local r
        for r in online_incomplete target_incomplete no_answer_online no_answer_target \
            unparsable over_limit noreply; do
            kv "cmp_nc_$r" "$(tc_stat "compare.not_compared_by_reason.$r")"
        done
        kv cmp_orphans "$(tc_stat compare.orphans)"
        # Differences by kind, and the first few, in the log (there should be none).
        "$LAB_PY" -c 'import json, sys
d = json.load(open(sys.argv[1])).get("different_by_kind", {})
for k, v in sorted(d.items()):
    if isinstance(v, int) and v:
        print("cmp_diff_%s=%d" % (k, v))' "$LAB_DIR/compare/summary.json" >>"$OUT"
        head -n 3 "$LAB_DIR/compare/mismatches.jsonl" | cut -c1-600 | sed 's/^/  mismatch: /' >&2
        kv cmp_sessions_skipped "$(stat_sum "$(stats_file "$TCPCOPY_LOG")" \
            compare.sessions_skipped.over_cap compare.sessions_skipped.no_memory \
            compare.sessions_skipped.abandoned)"
    fi
    kv "${p}_kernel_drops" "$(tc_stat capture.kernel_drops)"
    echo "$join" | tr '\n' ' ' >&2
    echo >&2
}

# run_compare: the ceiling, then the plain, payload and compare parts in one lab, their
# order reversed on every other run (BENCH_RUN, from run.sh): odd runs plain first.
run_compare() {
    local rps
    lab_up
    client_tuning
    bench_nginx "$NS_ONL" 80 online
    ON_LOG=$NGINX_LOG
    bench_nginx "$NS_TGT" 8080 target
    TG_LOG=$NGINX_LOG
    # The same page on both sides down to its modification time (Last-Modified, ETag): the two
    # files are written a moment apart, sometimes across a second.
    touch -d '2026-01-01 00:00:00 UTC' "$LAB_DIR/nginx-online/html/page.html" \
        "$LAB_DIR/nginx-target/html/page.html"
    SECRET="$LAB_DIR/secret"
    (umask 077 && head -c 24 /dev/urandom | base64 >"$SECRET")
    log "ceiling: wrk -t$THREADS -c$CONNS -d${DUR}s ($MODE), no tcpcopy"
    rps=$(wrk_run c "$LAB_DIR/wrk-ceiling.txt")
    kv ceiling "${rps:-}"
    kv ceiling_unit req/s
    sleep 1
    if [ $((${BENCH_RUN:-1} % 2)) -eq 1 ]; then
        kv order plain,payload,compare
        compare_phase plain p
        compare_phase payload t
        compare_phase compare m
    else
        kv order compare,payload,plain
        compare_phase compare m
        compare_phase payload t
        compare_phase plain p
    fi
    kv cmp_x "$(div "$(kv_get "$OUT" m_cpu10k)" "$(kv_get "$OUT" p_cpu10k)")"
    kv cmp_ic_x "$(div "$(kv_get "$OUT" m_ic_cpu10k)" "$(kv_get "$OUT" p_ic_cpu10k)")"
    kv tls_x "$(div "$(kv_get "$OUT" t_cpu10k)" "$(kv_get "$OUT" p_cpu10k)")"
    grep -q '^stop_ok=no$' "$OUT" || kv stop_ok yes
}

case $SCEN in
ka10) THREADS=1 CONNS=10 MODE=keepalive run_wrk_scenario ;;
ka50) THREADS=1 CONNS=50 MODE=keepalive DUR=${BENCH_DURATION:-5} run_wrk_scenario ;;
floor) THREADS=1 CONNS=50 MODE=keepalive DUR=${BENCH_DURATION:-5} FLOOR=1 run_wrk_scenario ;;
ka50pcap) THREADS=1 CONNS=50 MODE=keepalive DUR=${BENCH_DURATION:-5} \
    TC_CAPTURE_ARGS="--pcap-capture -i eth0" run_wrk_scenario ;;
ka50v6) THREADS=1 CONNS=50 MODE=keepalive DUR=${BENCH_DURATION:-5} WRK_URL="http://[2001:db8:1::10]/" \
    TC_BASE_ARGS="-x [2001:db8:1::10]:80-[2001:db8:1::20]:8080 -s 192.0.2.30 -c 2001:db8:3::x" \
    run_wrk_scenario ;;
ka100) THREADS=2 CONNS=100 MODE=keepalive run_wrk_scenario ;;
short) THREADS=2 CONNS=50 MODE=close run_wrk_scenario ;;
floorshort) THREADS=2 CONNS=50 MODE=close FLOOR=1 run_wrk_scenario ;;
bulk) run_bulk ;;
idle) run_idle ;;
offline) run_offline ;;
fanin) run_fanin ;;
compare) THREADS=1 CONNS=50 MODE=keepalive DUR=${BENCH_DURATION:-5} run_compare ;;
*) echo "unknown scenario $SCEN" >&2; exit 2 ;;
esac
kv complete yes
log "done: $(tr '\n' ' ' <"$OUT")"
