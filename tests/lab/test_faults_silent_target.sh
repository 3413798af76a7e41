#!/usr/bin/env bash
# Fault at the target: a target that accepts and never answers. The target's nginx is stopped
# (SIGSTOP, master and worker) for a whole paced wrk load, and continued (SIGCONT) after it:
# connections were accepted, answers given up by timeout are counted, the load is replayed
# after SIGCONT (faults_lib.sh: tcpcopy and intercept stay up, RSS bounded, fresh requests
# after the fault reproduced).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/faults_lib.sh"

faults_lab_up
TG_NGINX_PID=$(cat "$TG_DIR/nginx.pid")
TG_WORKERS=$(cat "/proc/$TG_NGINX_PID/task/$TG_NGINX_PID/children" 2>/dev/null || true)
TCPCOPY_NAME=tcpcopy-c start_tcpcopy
# shellcheck disable=SC2086
kill -STOP "$TG_NGINX_PID" $TG_WORKERS
log "c: target nginx stopped (SIGSTOP: $TG_NGINX_PID $TG_WORKERS)"
load_start c 4
sleep 2
alive_check "c (target silent)"
load_wait c
sleep 1
alive_check "c (target silent, after the load)"
c_queued=$(on_tgt ss -Htn state established '( sport = :8080 )' | wc -l)
log "c: $c_queued connections established at the silent target"
# shellcheck disable=SC2086
kill -CONT "$TG_NGINX_PID" $TG_WORKERS
log "c: target nginx continued (SIGCONT)"
settle_phase c 25
alive_check c
uri_share "$ON_LOG" "$TG_LOG" "$PH_FROM" "$PH_TO" c
c_all="$SHARE_HIT/$SHARE_N ($SHARE)"
recover c
stop_copy c
c_gto=$(tc_stat requests.answer_by.timeout)
log "c: answers waited for in vain (given up after the answer timeout): $c_gto"
assert_ge "$c_queued" 1 "c: connections accepted by the silent target"
assert_ge "$c_gto" 1 "c: answers given up by timeout counted"
faults_end "silent target: reproduced after SIGCONT $c_all, answers by timeout $c_gto"
