# shellcheck shell=bash
# shellcheck disable=SC2034,SC2119,SC2120
# The network-namespace lab (doc: /work/shared/LAB.md, tests/lab/README.md).
#
# Sourced by every scenario (tests/lab/test_*.sh), by scripts/demo.sh and by the benchmark.
# It owns: the namespaces of one run (unique prefix tc$$-), the processes it starts (tracked by
# PID, never by name) and one temporary directory for configs and logs. A trap removes all of
# them on exit, on failure and on Ctrl-C.
#
#  [client] 198.51.100.10 ---- 198.51.100.1 [router] 192.0.2.1 (br0)
#                                              |-- 192.0.2.10 [online] (+ .11, .12 optional)
#                                              |-- 192.0.2.20 [target]
#                                              |-- 192.0.2.30 [assist] (ip_forward=0)
#  on target: 203.0.113.0/24 and 198.51.100.0/24 via 192.0.2.30
#  IPv6 mirror: 2001:db8:2::/64 (client side), 2001:db8:1::/64 (servers), 2001:db8:3::/64 (-c)
#
# Works under `set -euo pipefail`. Nothing here touches the root namespace except the
# short-lived veth pairs that are created there and moved into the lab at once.

LAB_LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TC_SRC=${TC_SRC:-$(cd "$LAB_LIB_DIR/../.." && pwd)}
TC_BIN=${TC_BIN:-$TC_SRC/build/debug}
LAB_PY=${LAB_PY:-$(command -v /usr/bin/python3 || command -v python3)}
LAB_NAME=${LAB_NAME:-$(basename "$0" .sh)}
LAB_TIMEOUT=${TC_LAB_TIMEOUT:-240}     # whole-run watchdog, seconds

P="tc$$-"
NS_CLI="${P}cli"
NS_RTR="${P}rtr"
NS_ONL="${P}onl"
NS_TGT="${P}tgt"
NS_AST="${P}ast"
NS_ONLINE=()           # every online host: NS_ONLINE[0]=$NS_ONL (.10), [1] (.11), ... [7] (.17)

IP_CLI=198.51.100.10
IP_RTR_CLI=198.51.100.1
IP_RTR=192.0.2.1
IP_ONL=192.0.2.10
IP_TGT=192.0.2.20
IP_AST=192.0.2.30
FAKE_NET=203.0.113.0/24
CHAN_PORT=36524

LAB_DIR=""
LAB_NS=()              # namespaces created, for the cleanup
LAB_PIDS=()            # processes started, for the cleanup
LAB_TMPLINKS=()        # temporary veth names in the root namespace
LAB_FAILED=0
LAB_WATCHDOG=""
TCPCOPY_PID=""
INTERCEPT_PID=""
TCPCOPY_LOG=""
INTERCEPT_LOG=""

# --- messages -------------------------------------------------------------------------------

log() { printf '[%s %s] %s\n' "$LAB_NAME" "$(date +%T)" "$*" >&2; }

# fail MSG: print the FAIL line (and the tools' logs for diagnosis), exit 1; the trap cleans up.
fail() {
    LAB_FAILED=1
    trap - ERR
    local f
    for f in "$TCPCOPY_LOG" "$INTERCEPT_LOG"; do
        if [ -n "$f" ] && [ -s "$f" ]; then
            echo "---- last lines of $(basename "$f") ----" >&2
            tail -n 25 "$f" >&2 || true
        fi
    done
    echo "FAIL: $LAB_NAME: $*"
    exit 1
}

pass() {
    echo "PASS: $LAB_NAME${1:+: $*}"
    exit 0
}

# assert_ge ACTUAL MIN WHAT: numbers may be decimals (ratios).
assert_ge() {
    if awk -v a="$1" -v b="$2" 'BEGIN { exit !(a + 0 >= b + 0) }'; then
        log "ok: $3: $1 >= $2"
    else
        fail "$3: $1 < $2"
    fi
}

assert_eq() {
    if [ "$1" = "$2" ]; then
        log "ok: $3: $1"
    else
        fail "$3: got '$1', expected '$2'"
    fi
}

# --- waiting --------------------------------------------------------------------------------

# wait_until CMD TIMEOUT: evaluate CMD (a string) every 0.1 s until it succeeds; 1 on timeout.
wait_until() {
    local cmd=$1 timeout=${2:-10} i n
    n=$(awk -v t="$timeout" 'BEGIN { printf "%d", t * 10 }')
    for ((i = 0; i < n; i++)); do
        if eval "$cmd" >/dev/null 2>&1; then
            return 0
        fi
        sleep 0.1
    done
    eval "$cmd" >/dev/null 2>&1
}

# settle CMD MAX [GOAL] [STABLE]: run CMD (a string printing a number) every 0.5 s until its
# value reaches GOAL (when given), or has not changed for STABLE seconds (default 2; 10 with a
# GOAL, so that a replay that pauses for a retry or a gap is not taken as finished), or MAX
# seconds have passed. Prints the last value. With a GOAL a passing run returns as soon as the
# copy is complete, and a failing one still gives the replay its whole chance.
settle() {
    local cmd=$1 max=${2:-10} goal=${3:-} stable=${4:-} last="" cur same=0 i n k
    [ -n "$stable" ] || { [ -n "$goal" ] && stable=10 || stable=2; }
    n=$(awk -v t="$max" 'BEGIN { printf "%d", t * 2 }')
    k=$(awk -v t="$stable" 'BEGIN { printf "%d", t * 2 }')
    for ((i = 0; i < n; i++)); do
        cur=$(eval "$cmd" 2>/dev/null || echo 0)
        if [ -n "$goal" ] && [ "${cur:-0}" -ge "$goal" ] 2>/dev/null; then
            last=$cur
            break
        fi
        if [ "$cur" = "$last" ]; then
            same=$((same + 1))
            [ "$same" -ge "$k" ] && break
        else
            same=0
            last=$cur
        fi
        sleep 0.5
    done
    echo "$last"
}

# firstn N: the first N lines of stdin. Unlike head it reads everything, so the writer never
# gets SIGPIPE (which `set -o pipefail` would turn into a failure).
firstn() { awk -v n="${1:-1}" 'NR <= n'; }

# lines FILE: number of lines, 0 when the file does not exist yet.
lines() {
    if [ -f "$1" ]; then wc -l <"$1" | tr -d ' '; else echo 0; fi
}

# --- namespaces -----------------------------------------------------------------------------

nsx() {
    local ns=$1
    shift
    ip netns exec "$ns" "$@"
}
on_cli() { ip netns exec "$NS_CLI" "$@"; }
on_rtr() { ip netns exec "$NS_RTR" "$@"; }
on_onl() { ip netns exec "$NS_ONL" "$@"; }
on_tgt() { ip netns exec "$NS_TGT" "$@"; }
on_ast() { ip netns exec "$NS_AST" "$@"; }

# curl_keepalive CONNS REQS BASE [TIMEOUT]: from the client, CONNS curl processes at once, each
# fetching BASE/c/1 .. BASE/c/REQS on one keep-alive connection (c = 1..CONNS); bounded by
# TIMEOUT seconds (120). A failed curl is reported on stderr.
curl_keepalive() {
    local conns=$1 reqs=$2 base=$3 t=${4:-120}
    on_cli timeout "$((t + 30))" bash -c '
        for c in $(seq 1 '"$conns"'); do
            urls=()
            for i in $(seq 1 '"$reqs"'); do urls+=("'"$base"'/$c/$i"); done
            curl -s -m '"$t"' "${urls[@]}" >/dev/null || echo "curl $c failed" >&2 &
        done
        wait'
}

# reach NS IP [PORT]: true when a TCP connection from NS to IP:PORT (default 9, where nothing
# listens) is answered, accepted or refused; false after 1 s of silence. No ping needed.
reach() {
    ip netns exec "$1" "$LAB_PY" -c '
import socket, sys
try:
    socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=1).close()
except ConnectionRefusedError:
    pass
except OSError:
    sys.exit(1)' "$2" "${3:-9}"
}

# lab_track PID: stop this process at cleanup.
lab_track() { LAB_PIDS+=("$1"); }

_lab_ns_add() {
    ip netns add "$1"
    LAB_NS+=("$1")
    ip netns exec "$1" ip link set lo up
    # Forwarding is off unless a host is a router; assist must stay a black hole.
    ip netns exec "$1" sysctl -qw net.ipv4.ip_forward=0 net.ipv6.conf.all.forwarding=0
}

# _lab_veth NS_A NAME_A NS_B NAME_B: one veth pair between two lab namespaces. The pair is
# created under unique temporary names in the root namespace, moved at once, and renamed
# inside (so two runs never clash on names and eth0 can exist everywhere).
_lab_veth() {
    local nsa=$1 namea=$2 nsb=$3 nameb=$4 ta tb
    LAB_VETH_SEQ=$((${LAB_VETH_SEQ:-0} + 1))
    ta="t$$v${LAB_VETH_SEQ}a"
    tb="t$$v${LAB_VETH_SEQ}b"
    LAB_TMPLINKS+=("$ta" "$tb")
    ip link add "$ta" type veth peer name "$tb"
    ip link set "$ta" netns "$nsa"
    ip link set "$tb" netns "$nsb"
    ip -n "$nsa" link set "$ta" name "$namea"
    ip -n "$nsb" link set "$tb" name "$nameb"
    ip -n "$nsa" link set "$namea" up
    ip -n "$nsb" link set "$nameb" up
}

# _lab_server NS IP4 IP6 PORTNAME: a host on the server LAN (a port of the router's bridge).
_lab_server() {
    local ns=$1 ip4=$2 ip6=$3 port=$4
    _lab_ns_add "$ns"
    _lab_veth "$ns" eth0 "$NS_RTR" "$port"
    ip -n "$NS_RTR" link set "$port" master br0
    ip -n "$ns" addr add "$ip4/24" dev eth0
    ip -n "$ns" -6 addr add "$ip6/64" dev eth0 nodad
    ip -n "$ns" route add default via "$IP_RTR"
    ip -n "$ns" -6 route add default via 2001:db8:1::1
}

# lab_up [N_ONLINE]: build the lab (N_ONLINE online hosts, 1 to 8: .10, .11, ... .17).
lab_up() {
    local nonl=${1:-1} i ns k
    [ "$(id -u)" -eq 0 ] || { echo "FAIL: $LAB_NAME: the lab needs root"; exit 1; }
    [ "$nonl" -ge 1 ] && [ "$nonl" -le 8 ] || fail "lab_up: 1 to 8 online hosts"
    LAB_DIR=$(mktemp -d "/tmp/tclab-$LAB_NAME.XXXXXX")
    trap _lab_cleanup EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    _lab_watchdog_start

    log "lab up: prefix $P, dir $LAB_DIR"
    _lab_ns_add "$NS_RTR"
    on_rtr sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1
    # The bridge is the LAN's switch: it forwards frames and runs no firewall, even where
    # the host has br_netfilter loaded (Docker does), which would pass every bridged
    # packet through this namespace's iptables hooks (a per-namespace setting).
    for k in arptables iptables ip6tables; do
        [ -e "/proc/sys/net/bridge/bridge-nf-call-$k" ] || continue
        on_rtr sysctl -qw "net.bridge.bridge-nf-call-$k=0"
    done
    ip -n "$NS_RTR" link add br0 type bridge forward_delay 0 stp_state 0
    ip -n "$NS_RTR" link set br0 up
    ip -n "$NS_RTR" addr add "$IP_RTR/24" dev br0
    ip -n "$NS_RTR" -6 addr add 2001:db8:1::1/64 dev br0 nodad

    _lab_ns_add "$NS_CLI"
    _lab_veth "$NS_CLI" eth0 "$NS_RTR" eth0
    ip -n "$NS_CLI" addr add "$IP_CLI/24" dev eth0
    ip -n "$NS_CLI" -6 addr add 2001:db8:2::10/64 dev eth0 nodad
    ip -n "$NS_CLI" route add default via "$IP_RTR_CLI"
    ip -n "$NS_CLI" -6 route add default via 2001:db8:2::1
    ip -n "$NS_RTR" addr add "$IP_RTR_CLI/24" dev eth0
    ip -n "$NS_RTR" -6 addr add 2001:db8:2::1/64 dev eth0 nodad

    NS_ONLINE=()
    for ((i = 0; i < nonl; i++)); do
        if [ "$i" -eq 0 ]; then ns=$NS_ONL; else ns="${P}onl$i"; fi
        _lab_server "$ns" "192.0.2.$((10 + i))" "2001:db8:1::$((10 + i))" "onl$i"
        NS_ONLINE+=("$ns")
    done
    _lab_server "$NS_TGT" "$IP_TGT" 2001:db8:1::20 tgt0
    _lab_server "$NS_AST" "$IP_AST" 2001:db8:1::30 ast0

    # The target sends its replies for the real and the fake clients to assist, where they
    # are captured and dropped (assist does not forward).
    ip -n "$NS_TGT" route add "$FAKE_NET" via "$IP_AST"
    ip -n "$NS_TGT" route add 198.51.100.0/24 via "$IP_AST"
    ip -n "$NS_TGT" -6 route add 2001:db8:3::/64 via 2001:db8:1::30
    ip -n "$NS_TGT" -6 route add 2001:db8:2::/64 via 2001:db8:1::30

    # The bridge ports need a moment to forward; bounded wait on first contact.
    wait_until "reach $NS_CLI $IP_ONL" 10 || fail "lab_up: client cannot reach online"
    for ns in "${NS_ONLINE[@]}" "$NS_TGT" "$NS_AST"; do
        wait_until "reach $ns $IP_RTR" 10 || fail "lab_up: $ns cannot reach the router"
    done
    log "lab ready"
}

_lab_watchdog_start() {
    local main=$$ secs=$LAB_TIMEOUT
    # Sends TERM to the scenario when it overruns (ctest would SIGKILL it, and then no trap
    # could remove the namespaces).
    (
        trap - EXIT INT TERM
        sleep "$secs" &
        wait $! 2>/dev/null || exit 0
        echo "[$LAB_NAME] watchdog: run exceeded ${secs}s, stopping it" >&2
        kill -TERM "$main" 2>/dev/null
    ) &
    LAB_WATCHDOG=$!
}

# _lab_stop PID [SECS]: TERM, then KILL after SECS (default 3).
_lab_stop() {
    local pid=$1 secs=${2:-3} i
    kill -0 "$pid" 2>/dev/null || return 0
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < secs * 10; i++)); do
        kill -0 "$pid" 2>/dev/null || return 0
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
}

_lab_cleanup() {
    local rc=$? pid ns l
    set +e
    trap - EXIT INT TERM ERR
    [ "$rc" -ne 0 ] && LAB_FAILED=1
    [ -n "$TCPCOPY_PID" ] && _lab_stop "$TCPCOPY_PID" 3
    for pid in "${LAB_PIDS[@]}"; do
        kill -TERM "$pid" 2>/dev/null
    done
    for pid in "${LAB_PIDS[@]}"; do
        _lab_stop "$pid" 3
    done
    for pid in "${LAB_PIDS[@]}"; do
        wait "$pid" 2>/dev/null
    done
    # Anything still running inside the lab (a client a scenario left behind) was started by
    # this run: stop it by PID before the namespaces go.
    for ns in "${LAB_NS[@]}"; do
        for pid in $(ip netns pids "$ns" 2>/dev/null); do
            kill -KILL "$pid" 2>/dev/null
        done
    done
    for ns in "${LAB_NS[@]}"; do
        ip netns del "$ns" 2>/dev/null
    done
    for l in "${LAB_TMPLINKS[@]}"; do
        ip link show "$l" >/dev/null 2>&1 && ip link del "$l" 2>/dev/null
    done
    if [ -n "$LAB_WATCHDOG" ]; then
        _lab_kill_tree "$LAB_WATCHDOG"
    fi
    if [ -n "$LAB_DIR" ] && [ -d "$LAB_DIR" ]; then
        if [ "$LAB_FAILED" -ne 0 ] || [ -n "${TC_KEEP:-}" ]; then
            echo "[$LAB_NAME] logs kept in $LAB_DIR" >&2
        else
            rm -rf "$LAB_DIR"
        fi
    fi
    exit "$rc"
}

# _lab_kill_tree PID: stop PID and its direct children, by PID (the watchdog and its sleep).
_lab_kill_tree() {
    local pid=$1 c
    for c in $(cat "/proc/$pid/task/$pid/children" 2>/dev/null); do
        kill -TERM "$c" 2>/dev/null
    done
    kill -TERM "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    return 0
}

# --- servers --------------------------------------------------------------------------------

# listening NS PORT: true when a TCP socket listens on PORT in NS.
listening() {
    [ -n "$(ip netns exec "$1" ss -Hltn "sport = :$2" 2>/dev/null)" ]
}

# nginx_run NS PORT NAME HTTP [MAIN] [LOGX]: Debian's nginx in NS with its own prefix in
# $LAB_DIR/nginx-NAME, HTTP the directives and server blocks of its http block, MAIN those of
# the main context (default: one worker, 4096 connections). Every request is logged to
# $LAB_DIR/nginx-NAME/access.log as
#   remote_addr remote_port method uri status request_length body_bytes_sent[LOGX]
# Waits until it listens on PORT; sets NGINX_LOG and NGINX_PID.
nginx_run() {
    local ns=$1 port=$2 name=$3 http=$4 logx=${6:-} dir pid
    local main=${5:-"worker_processes 1;
events { worker_connections 4096; }"}
    dir="$LAB_DIR/nginx-$name"
    mkdir -p "$dir/tmp"
    cat >"$dir/nginx.conf" <<EOF
user root root;
daemon off;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
$main
http {
    log_format lab '\$remote_addr \$remote_port \$request_method \$request_uri \$status \$request_length \$body_bytes_sent$logx';
    access_log $dir/access.log lab;
    client_body_temp_path $dir/tmp/body;
    proxy_temp_path $dir/tmp/proxy;
    fastcgi_temp_path $dir/tmp/fastcgi;
    uwsgi_temp_path $dir/tmp/uwsgi;
    scgi_temp_path $dir/tmp/scgi;
    client_max_body_size 0;
    server_tokens off;
    $http
}
EOF
    : >"$dir/access.log"
    # Background the command itself, not a shell function: $! must be the program's PID
    # (ip netns exec execs it), or stopping it by PID would only stop a subshell.
    ip netns exec "$ns" /usr/sbin/nginx -p "$dir" -e "$dir/error.log" -c "$dir/nginx.conf" \
        >"$dir/stdout.log" 2>&1 &
    pid=$!
    lab_track "$pid"
    wait_until "listening $ns $port" 10 || {
        cat "$dir/error.log" "$dir/stdout.log" >&2 2>/dev/null
        fail "nginx $name did not listen on $port in $ns"
    }
    NGINX_LOG="$dir/access.log"
    NGINX_PID=$pid
}

# nginx_page DIR: DIR/html/page.html, the lab's 600-byte page.
nginx_page() {
    mkdir -p "$1/html"
    head -c 600 /dev/zero | tr '\0' 'x' >"$1/html/page.html"
}

# start_nginx NS PORT NAME: nginx_run answering every request with a 600-byte page (both
# families). Sets NGINX_LOG (the access log of the last one started).
start_nginx() {
    local ns=$1 port=$2 name=$3 dir
    dir="$LAB_DIR/nginx-$name"
    nginx_page "$dir"
    nginx_run "$ns" "$port" "$name" "keepalive_requests 100000;
    keepalive_timeout 65;
    server {
        listen $port;
        listen [::]:$port;
        root $dir/html;
        default_type text/html;
        location / {
            try_files /page.html =404;
        }
    }"
    log "nginx $name listening on $ns:$port (pid $NGINX_PID)"
}

# start_recorder NS IP PORT NAME [recorder options]: tests/lab/recorder.py recording into
# $LAB_DIR/rec-NAME (one .bin per connection, requests.log, conns.log). Sets REC_DIR.
start_recorder() {
    local ns=$1 ip=$2 port=$3 name=$4 dir pid
    shift 4
    dir="$LAB_DIR/rec-$name"
    mkdir -p "$dir"
    ip netns exec "$ns" "$LAB_PY" "$LAB_LIB_DIR/recorder.py" --addr "$ip" --port "$port" --dir "$dir" "$@" \
        >"$dir/recorder.log" 2>&1 &
    pid=$!
    lab_track "$pid"
    wait_until "listening $ns $port" 10 || {
        cat "$dir/recorder.log" >&2
        fail "recorder $name did not listen on $ip:$port"
    }
    REC_DIR=$dir
    log "recorder $name listening on $ns $ip:$port (pid $pid)"
}

# --- tcpcopy and intercept ------------------------------------------------------------------

INTERCEPT_ARGS_DEFAULT=(-i eth0 -F 'tcp and src port 8080')
TCPCOPY_ARGS_DEFAULT=(-x 80-192.0.2.20:8080 -s 192.0.2.30 -c 203.0.113.x)

_tc_check_bin() {
    [ -x "$TC_BIN/$1" ] || fail "$TC_BIN/$1 not found (set TC_BIN to the build directory)"
}

_tc_alive_or_fail() {
    local pid=$1 what=$2 logf=$3 rc
    if ! kill -0 "$pid" 2>/dev/null; then
        wait "$pid" 2>/dev/null && rc=0 || rc=$?
        echo "---- $what log ($logf) ----" >&2
        cat "$logf" >&2 || true
        fail "$what exited during startup (status $rc)"
    fi
}

# start_intercept [ARGS...] in assist (default: -i eth0 -F 'tcp and src port 8080'); waits
# until it listens on 36524, and fails the test when it does not. NS_INTERCEPT may name another
# namespace; INTERCEPT_NAME (default intercept) names its log, $LAB_DIR/$INTERCEPT_NAME.log, to
# run several, and its counters, --stats-json $LAB_DIR/$INTERCEPT_NAME.stats.json (ic_stat).
start_intercept() {
    local ns=${NS_INTERCEPT:-$NS_AST} args=("$@")
    [ "${#args[@]}" -gt 0 ] || args=("${INTERCEPT_ARGS_DEFAULT[@]}")
    _tc_check_bin intercept
    INTERCEPT_LOG="$LAB_DIR/${INTERCEPT_NAME:-intercept}.log"
    args+=(--stats-json "$(stats_file "$INTERCEPT_LOG")")
    log "intercept ${args[*]}"
    ip netns exec "$ns" "$TC_BIN/intercept" "${args[@]}" >>"$INTERCEPT_LOG" 2>&1 &
    INTERCEPT_PID=$!
    lab_track "$INTERCEPT_PID"
    if ! wait_until "listening $ns $CHAN_PORT || ! kill -0 $INTERCEPT_PID" 10 ||
        ! listening "$ns" "$CHAN_PORT"; then
        _tc_alive_or_fail "$INTERCEPT_PID" intercept "$INTERCEPT_LOG"
        cat "$INTERCEPT_LOG" >&2
        fail "intercept does not listen on $CHAN_PORT after 10 s"
    fi
    sleep 0.3
    _tc_alive_or_fail "$INTERCEPT_PID" intercept "$INTERCEPT_LOG"
    log "intercept running (pid $INTERCEPT_PID)"
}

# start_tcpcopy [ARGS...] in online (default: -x 80-192.0.2.20:8080 -s 192.0.2.30
# -c 203.0.113.x); waits until it has connected to intercept, and fails the test when no
# channel connection comes up within 10 s. NS_TCPCOPY may name another namespace; TCPCOPY_NAME
# (default tcpcopy) names its log, $LAB_DIR/$TCPCOPY_NAME.log, and its counters, --stats-json
# $LAB_DIR/$TCPCOPY_NAME.stats.json (tc_stat).
start_tcpcopy() {
    local ns=${NS_TCPCOPY:-$NS_ONL} args=("$@") ast=${NS_INTERCEPT:-$NS_AST}
    [ "${#args[@]}" -gt 0 ] || args=("${TCPCOPY_ARGS_DEFAULT[@]}")
    _tc_check_bin tcpcopy
    TCPCOPY_LOG="$LAB_DIR/${TCPCOPY_NAME:-tcpcopy}.log"
    args+=(--stats-json "$(stats_file "$TCPCOPY_LOG")")
    log "tcpcopy ${args[*]}"
    ip netns exec "$ns" "$TC_BIN/tcpcopy" "${args[@]}" >>"$TCPCOPY_LOG" 2>&1 &
    TCPCOPY_PID=$!
    lab_track "$TCPCOPY_PID"
    local est="[ -n \"\$(ip netns exec $ast ss -Htn state established '( sport = :$CHAN_PORT )')\" ]"
    if ! wait_until "$est || ! kill -0 $TCPCOPY_PID" 10 || ! eval "$est"; then
        _tc_alive_or_fail "$TCPCOPY_PID" tcpcopy "$TCPCOPY_LOG"
        fail "tcpcopy: no channel connection seen at intercept ($ast:$CHAN_PORT) after 10 s"
    fi
    sleep 0.5
    _tc_alive_or_fail "$TCPCOPY_PID" tcpcopy "$TCPCOPY_LOG"
    [ -n "$INTERCEPT_PID" ] && _tc_alive_or_fail "$INTERCEPT_PID" intercept "$INTERCEPT_LOG"
    log "tcpcopy running (pid $TCPCOPY_PID)"
}

# _tc_stop_one PID NAME LOG: SIGTERM by PID, bounded wait, show the log's tail. Returns 1 on
# a crash or a sanitizer report.
_tc_stop_one() {
    local pid=$1 name=$2 logf=$3 rc=0 i bad=0
    [ -n "$pid" ] || return 0
    if kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid" 2>/dev/null || true
        for ((i = 0; i < 100; i++)); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        if kill -0 "$pid" 2>/dev/null; then
            log "$name did not exit 10 s after SIGTERM; killing it"
            kill -KILL "$pid" 2>/dev/null || true
            bad=1
        fi
    else
        log "$name was no longer running before SIGTERM"
        bad=1
    fi
    wait "$pid" 2>/dev/null && rc=0 || rc=$?
    # The final counters when the program logs them (tcpcopy "final:", intercept "stats:"),
    # otherwise the end of its log.
    if grep -qE 'final:|stats:|counters' "$logf" 2>/dev/null; then
        echo "---- $name exit status $rc; its last counters ----"
        grep -E 'final:|stats:|counters' "$logf" | tail -n 8 | sed 's/^/  /'
    else
        echo "---- $name exit status $rc; last lines of its log ----"
        tail -n 12 "$logf" 2>/dev/null | sed 's/^/  /'
    fi
    case $rc in 132 | 134 | 136 | 139) bad=1 ;; esac
    if grep -qE 'Sanitizer|runtime error:' "$logf" 2>/dev/null; then
        log "$name: sanitizer report in $logf"
        grep -m5 -E 'Sanitizer|runtime error:' "$logf" >&2
        bad=1
    fi
    return "$bad"
}

# stop_tc: stop tcpcopy, then intercept (SIGTERM by PID) and print their final counters.
# Returns 1 when either crashed, had to be killed, or reported a sanitizer error.
stop_tc() {
    local bad=0
    _tc_stop_one "$TCPCOPY_PID" tcpcopy "$TCPCOPY_LOG" || bad=1
    TCPCOPY_PID=""
    _tc_stop_one "$INTERCEPT_PID" intercept "$INTERCEPT_LOG" || bad=1
    INTERCEPT_PID=""
    return "$bad"
}

# start_http_servers: nginx online:80 and target:8080, and intercept with the original's
# command line (tcpcopy is the scenario's to start). Sets ON_LOG and TG_LOG (the two access
# logs).
start_http_servers() {
    start_nginx "$NS_ONL" 80 online
    ON_LOG=$NGINX_LOG
    start_nginx "$NS_TGT" 8080 target
    TG_LOG=$NGINX_LOG
    start_intercept
}

# start_http_copy: start_http_servers, then tcpcopy with the original's command line.
start_http_copy() {
    start_http_servers
    start_tcpcopy
}

# --- reports --------------------------------------------------------------------------------

# report ONLINE_LOG TARGET_LOG: one line per request in each (nginx access logs or recorder
# requests.log). Sets N_ONLINE, N_TARGET, RATIO.
report() {
    N_ONLINE=$(lines "$1")
    N_TARGET=$(lines "$2")
    RATIO=$(awk -v a="$N_ONLINE" -v b="$N_TARGET" 'BEGIN { if (a == 0) print 0; else printf "%.4f", b / a }')
    echo "requests online $N_ONLINE, reproduced on target $N_TARGET, ratio $RATIO"
}

# uris LOG: the multiset of request URIs of an access log (or recorder requests.log), sorted.
uris() {
    awk '{ print $4 }' "$1" | LC_ALL=C sort
}

# compare_recordings ONLINE_DIR TARGET_DIR: for each connection recorded online, the target's
# recording with the same client port must hold the same bytes. Prints a summary and sets
# REC_CONNS REC_MATCHED REC_MISSING REC_MISMATCH REC_BYTES.
compare_recordings() {
    local on=$1 tg=$2 f base port t
    REC_CONNS=0 REC_MATCHED=0 REC_MISSING=0 REC_MISMATCH=0 REC_BYTES=0
    for f in "$on"/*.bin; do
        [ -e "$f" ] || continue
        REC_CONNS=$((REC_CONNS + 1))
        base=$(basename "$f" .bin)
        port=$(echo "$base" | awk -F_ '{ print $(NF - 1) }')
        t=$(find "$tg" -maxdepth 1 -name "*_${port}_*.bin" | firstn 1)
        if [ -z "$t" ]; then
            REC_MISSING=$((REC_MISSING + 1))
            log "missing on target: connection from port $port ($(stat -c %s "$f") bytes)"
            continue
        fi
        REC_BYTES=$((REC_BYTES + $(stat -c %s "$f")))
        if cmp -s "$f" "$t"; then
            REC_MATCHED=$((REC_MATCHED + 1))
        else
            REC_MISMATCH=$((REC_MISMATCH + 1))
            log "mismatch: port $port: online $(stat -c %s "$f") bytes, target $(stat -c %s "$t") bytes, first difference: $(cmp "$f" "$t" 2>&1 | firstn 1)"
        fi
    done
    echo "connections online $REC_CONNS, identical on target $REC_MATCHED, missing $REC_MISSING, mismatches $REC_MISMATCH, bytes compared $REC_BYTES"
}

# --- load helpers (unique URIs, shares, counters) -------------------------------------------

# requests_in_order ONLINE_REC TARGET_REC: the requests each recorder parsed, per connection
# and in order, are the same on both sides (0), or not (1, the first differences logged).
requests_in_order() {
    if diff <(awk '{ print $2, $3, $4 }' "$1/requests.log" | LC_ALL=C sort -s -k1,1n) \
        <(awk '{ print $2, $3, $4 }' "$2/requests.log" | LC_ALL=C sort -s -k1,1n) \
        >"$LAB_DIR/order.diff"; then
        return 0
    fi
    log "requests differ ($(basename "$1")): $(grep '^[<>]' "$LAB_DIR/order.diff" | firstn 4 | tr '\n' ' ')"
    return 1
}

# wrk_uri_script FILE [PREFIX]: write a wrk Lua script giving every request a unique path
# /PREFIX/<thread>/<n> (PREFIX defaults to r), so that access logs compare as sets.
wrk_uri_script() {
    local file=$1 prefix=${2:-r}
    cat >"$file" <<LUA
local threads = 0
function setup(thread)
    threads = threads + 1
    thread:set("tid", threads)
end
function init(args)
    n = 0
end
function request()
    n = n + 1
    return wrk.format(nil, "/$prefix/" .. tid .. "/" .. n)
end
LUA
}

# settle_stable CMD MAX STABLE: settle without a goal, the value unchanged for STABLE seconds.
settle_stable() { settle "$1" "${2:-10}" "" "${3:-2}"; }

# uri_share ONLINE_LOG TARGET_LOG FROM TO [LABEL]: of the requests on lines FROM..TO of the
# online log (1-based, inclusive; TO may be "$" for the end), how many URIs appear on the
# target (set comparison, field 4 of nginx's or the recorder's log). Sets SHARE_N, SHARE_HIT
# and SHARE (a ratio, 1 when the range is empty); the missing URIs go to
# $LAB_DIR/missing-LABEL.txt. Prints one line.
uri_share() {
    local on=$1 tg=$2 from=$3 to=$4 label=${5:-range} miss
    miss="$LAB_DIR/missing-$label.txt"
    [ "$to" = '$' ] && to=$(lines "$on")
    awk -v a="$from" -v b="$to" 'NR >= a && NR <= b { print $4 }' "$on" | LC_ALL=C sort -u \
        >"$LAB_DIR/uris-$label.on"
    awk '{ print $4 }' "$tg" | LC_ALL=C sort -u >"$LAB_DIR/uris-$label.tg"
    LC_ALL=C comm -23 "$LAB_DIR/uris-$label.on" "$LAB_DIR/uris-$label.tg" >"$miss"
    SHARE_N=$(lines "$LAB_DIR/uris-$label.on")
    SHARE_HIT=$((SHARE_N - $(lines "$miss")))
    SHARE=$(awk -v a="$SHARE_N" -v b="$SHARE_HIT" 'BEGIN { if (a == 0) print 1; else printf "%.4f", b / a }')
    rm -f "$LAB_DIR/uris-$label.on" "$LAB_DIR/uris-$label.tg"
    echo "$label: online requests $SHARE_N (log lines $from-$to), reproduced $SHARE_HIT, share $SHARE"
}

# --- counters (--stats-json, doc/metrics.md) -------------------------------------------------

# stats_file LOG: the stats file beside a program's log (X.log -> X.stats.json).
stats_file() { echo "${1%.log}.stats.json"; }

# _stat_fail MSG: fail, also from inside $(...): there `fail` would end only the subshell, so
# the test itself is stopped (its TERM trap exits 143, the cleanup runs, the run counts failed).
_stat_fail() {
    if [ "${BASHPID:-$$}" = "$$" ]; then
        fail "$1"
    fi
    echo "FAIL: $LAB_NAME: $1" >&2
    kill -TERM "$$" 2>/dev/null
    exit 1
}

# stat_get FILE KEY: the number at KEY (dotted: sessions.outcome.complete) in a stats file.
# A missing file, a missing key or a non-number FAILS the test: a counter never reads as 0
# because it was renamed or not written.
stat_get() {
    local v
    v=$("$LAB_PY" - "$1" "$2" <<'PY'
import json, sys
try:
    with open(sys.argv[1]) as f:
        d = json.load(f)
except (OSError, ValueError) as e:
    sys.exit("cannot read %s: %s" % (sys.argv[1], e))
for k in sys.argv[2].split("."):
    if not isinstance(d, dict) or k not in d:
        sys.exit("no counter %s in %s" % (sys.argv[2], sys.argv[1]))
    d = d[k]
if isinstance(d, bool) or not isinstance(d, (int, float)):
    sys.exit("%s in %s is not a number: %r" % (sys.argv[2], sys.argv[1], d))
print(d)
PY
    ) || _stat_fail "stat_get $2: no such number in $1"
    echo "$v"
}

# stat_sum FILE KEY...: the sum of several counters (each must exist).
stat_sum() {
    local f=$1 k t=0
    shift
    for k in "$@"; do
        t=$((t + $(stat_get "$f" "$k")))
    done
    echo "$t"
}

# tc_stat KEY / ic_stat KEY: a counter of the tcpcopy (intercept) whose log is $TCPCOPY_LOG
# ($INTERCEPT_LOG); after stop_tc, its final value (the file is rewritten at exit).
tc_stat() { stat_get "$(stats_file "$TCPCOPY_LOG")" "$1"; }
ic_stat() { stat_get "$(stats_file "$INTERCEPT_LOG")" "$1"; }

# tc_stat_now KEY: the counter as tcpcopy has it now: SIGUSR1 makes it write its stats file
# at once (bounded wait for the new file).
tc_stat_now() {
    local f i before
    f=$(stats_file "$TCPCOPY_LOG")
    before=$(stat -c %Y.%s "$f" 2>/dev/null || echo none)
    kill -USR1 "$TCPCOPY_PID" 2>/dev/null || _stat_fail "tc_stat_now: tcpcopy is not running"
    for ((i = 0; i < 50; i++)); do
        sleep 0.1
        [ "$(stat -c %Y.%s "$f" 2>/dev/null || echo none)" != "$before" ] && break
    done
    stat_get "$f" "$1"
}

# settle_to_counter CMD KEY MAX: wait (at most MAX s) until CMD reaches the live value of
# tcpcopy's counter KEY, re-read until it no longer grows: a goal the copy itself states,
# where the test cannot know it ahead (which sessions -r samples, for instance).
settle_to_counter() {
    local cmd=$1 key=$2 max=$3 goal prev="" i
    for ((i = 0; i < 5; i++)); do
        goal=$(tc_stat_now "$key")
        [ "$goal" = "$prev" ] && break
        settle "$cmd" "$max" "$goal" >/dev/null
        prev=$goal
    done
    echo "$goal"
}

# The session outcomes, as in the counters' keys.
TC_OUTCOMES=(complete client_reset target_reset target_refused target_closed_early
             handshake_timeout timeout idle memory_limit shutdown not_started module_ended)

# tc_lost_at_end: requests tcpcopy's sessions still held when they ended, all outcomes.
tc_lost_at_end() {
    local o keys=()
    for o in "${TC_OUTCOMES[@]}"; do keys+=("requests.not_replayed.$o"); done
    stat_sum "$(stats_file "$TCPCOPY_LOG")" "${keys[@]}"
}

# proc_rss_kb PID: the process's resident set (VmRSS, kB); 0 when it is gone.
proc_rss_kb() {
    local r
    r=$(awk '/^VmRSS:/ { print $2 }' "/proc/$1/status" 2>/dev/null) || r=0
    echo "${r:-0}"
}

# proc_fds PID: the number of the process's open file descriptors; 0 when it is gone.
proc_fds() {
    local n
    n=$(find "/proc/$1/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l) || n=0
    echo "$n"
}

# short_sessions N PREFIX: from the client, N sessions one after another, each one request
# "GET /PREFIX/<i>" with Connection: close; fails when the client does.
short_sessions() {
    on_cli "$LAB_PY" - "$IP_ONL" "$1" "$2" <<'PY'
import socket, sys
for i in range(int(sys.argv[2])):
    s = socket.create_connection((sys.argv[1], 80), timeout=5)
    s.sendall(b"GET /%s/%d HTTP/1.1\r\nHost: online\r\nConnection: close\r\n\r\n" % (sys.argv[3].encode(), i))
    while s.recv(65536):
        pass
    s.close()
PY
}

# wrk_count NAME CONNS TOTAL URL [MAX_SECS] [DELAY_MS]: a load bounded by count, not by time,
# so that what it asks of the copy is the same on a fast or a slow machine. From the client,
# wrk -t1 -cCONNS sends requests with unique URIs /NAME/1/<n> and stops once TOTAL answers
# came back (a few more may be in flight then), or after MAX_SECS (60) on a machine too slow to
# get there. DELAY_MS > 0 paces each connection (think time: at most CONNS * 1000 / DELAY_MS
# requests a second, on any machine), for loads that must still be running when a fault is
# injected; MAX_SECS then bounds them. Runs in the foreground; wrk's summary goes to
# $LAB_DIR/wrk-NAME.out and its "requests in" line to stderr; WRK_NS runs it in another
# namespace than the client's. WRK_ANSWERED is set to the count wrk reports. wrk_count_bg starts the same in the background (WRK_PID, and
# WRK_PIDS[NAME] so that several may run at once); wrk_count_wait NAME finishes it.
declare -A WRK_PIDS=()
wrk_count_bg() {
    local name=$1 conns=$2 total=$3 url=$4 max=${5:-60} delay=${6:-0} lua
    lua="$LAB_DIR/wrk-$name.lua"
    wrk_uri_script "$lua" "$name"
    cat >>"$lua" <<LUA
local answered = 0
function response(status, headers, body)
    answered = answered + 1
    if answered == $total then
        local f = io.open("$LAB_DIR/wrk-$name.done", "w")
        if f then f:close() end
        wrk.thread:stop()
    end
end
LUA
    [ "$delay" -gt 0 ] && wrk_delay "$lua" "$delay"
    rm -f "$LAB_DIR/wrk-$name.done"
    local pace=""
    [ "$delay" -gt 0 ] && pace=", ${delay} ms think time, at most ${max} s"
    log "wrk $name: -t1 -c$conns, $total requests (unique URIs$pace) to $url"
    ip netns exec "${WRK_NS:-$NS_CLI}" timeout "$((max + 30))" wrk -t1 -c"$conns" -d"${max}s" --timeout 5s \
        -s "$lua" "$url" >"$LAB_DIR/wrk-$name.out" 2>&1 &
    WRK_PID=$!
    WRK_PIDS[$name]=$WRK_PID
    lab_track "$WRK_PID"
}

wrk_count_wait() {
    local name=$1 i pid=${WRK_PIDS[$1]}
    # wrk sleeps out its whole -d even when every thread stopped: once the count is reached,
    # SIGINT makes it print its summary and exit at once.
    for ((i = 0; i < 6000; i++)); do
        [ -e "$LAB_DIR/wrk-$name.done" ] && break
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.05
    done
    kill -INT "$pid" 2>/dev/null || true
    wait "$pid" || fail "wrk $name failed: $(tail -n 3 "$LAB_DIR/wrk-$name.out")"
    WRK_ANSWERED=$(awk '/requests in/ { print $1; exit }' "$LAB_DIR/wrk-$name.out")
    WRK_ANSWERED=${WRK_ANSWERED:-0}
    grep -E 'requests in|Socket errors' "$LAB_DIR/wrk-$name.out" | sed "s/^/  wrk $name: /" >&2
    [ -e "$LAB_DIR/wrk-$name.done" ] ||
        log "wrk $name: $WRK_ANSWERED answers when its time limit ended it (count not reached)"
}

wrk_count() {
    wrk_count_bg "$@"
    wrk_count_wait "$1"
}

# wrk_delay FILE MS: pace a wrk script (from wrk_uri_script): each connection waits MS ms
# before each request, so a load stays small enough to replay quickly under faults.
wrk_delay() {
    printf 'function delay()\n    return %d\nend\n' "$2" >>"$1"
}
