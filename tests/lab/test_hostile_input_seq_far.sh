#!/usr/bin/env bash
# Forged segments far ahead in sequence space: SEQ_FAR pairs of (SYN, then one byte 1-200 MB
# beyond it) from the client. A TCP receiver keeps at most its window of out-of-order data;
# tcpcopy must neither hold megabytes for them (queue peak below SEQFAR_MAX_PEAK_MB, 16 MB) nor
# stop copying the real sessions that follow (the curl loop starts after the pairs are sent:
# every request reproduced).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/hostile_input_lib.sh"

SEQ_FAR=${SEQ_FAR:-8}
SEQFAR_MAX_PEAK_MB=${SEQFAR_MAX_PEAK_MB:-16}   # 8 sessions of a 64 KB window would be 0.5 MB
lab_up
start_http_servers
BAD=()
TCPCOPY_NAME=tcpcopy-seqfar start_tcpcopy
ip netns exec "$NS_CLI" timeout 20 "$LAB_PY" "$GARBAGE" --mode ip --kinds seq_far --each "$SEQ_FAR" \
    --random 0 --src "$IP_CLI" --dst "$IP_ONL" --seed 13 >"$LAB_DIR/garbage-seqfar.out" 2>&1 ||
    fail "seqfar: garbage.py failed"
sleep 0.5
SF_RSS=$(proc_rss_kb "$TCPCOPY_PID")
log "seqfar: $SEQ_FAR forged pairs sent; tcpcopy VmRSS $((SF_RSS / 1024)) MB"
curl_loop seqfar
wait "$CURL_PID" || true
wait_until "[ \$(grep -c ' /seqfar/' $TG_LOG) -ge $N_CURL ]" 10 || true
SF_TG=$(grep -c ' /seqfar/' "$TG_LOG" || true)
SF_ON=$(grep -c ' /seqfar/' "$ON_LOG" || true)
_tc_stop_one "$TCPCOPY_PID" tcpcopy "$TCPCOPY_LOG" || fail "seqfar: tcpcopy did not stop cleanly"
TCPCOPY_PID=""
SF_PEAK=$(tc_stat queue.peak_bytes) SF_REFUSED=$(tc_stat sessions.not_copied.memory)
log "seqfar: curl requests online $SF_ON, reproduced $SF_TG; tcpcopy queue peak $SF_PEAK bytes, sessions refused for memory $SF_REFUSED"
[ "$SF_PEAK" -le $((SEQFAR_MAX_PEAK_MB << 20)) ] ||
    BAD+=("seqfar: $SEQ_FAR forged segments (about 1 KB in all) made tcpcopy queue $SF_PEAK bytes (VmRSS $((SF_RSS / 1024)) MB), above $SEQFAR_MAX_PEAK_MB MB")
[ "$SF_TG" -eq "$SF_ON" ] && [ "$SF_ON" -eq "$N_CURL" ] ||
    BAD+=("seqfar: $SEQ_FAR forged segments made tcpcopy queue $SF_PEAK bytes (VmRSS $((SF_RSS / 1024)) MB) and refuse $SF_REFUSED sessions: $SF_TG of $SF_ON curl requests reproduced")
stop_intercept
[ "${#BAD[@]}" -eq 0 ] || fail "${#BAD[@]} checks failed: $(printf '%s; ' "${BAD[@]}")"
pass "$SEQ_FAR far-ahead segments: queue peak $SF_PEAK bytes, $SF_TG/$SF_ON curls reproduced"
