#!/usr/bin/env bash
# Hostile input on the capture path and in capture files.
#   1  raw IP from the client: garbage.py --mode ip sends malformed TCP/IP (truncated TCP
#      headers, data offset < 5 and beyond the datagram, bad options, IHL < 5 and > length,
#      fragments: tiny, lone, overlapping) and GARBAGE_RANDOM random segments to online:80 at
#      GARBAGE_RATE packets/s, while a curl loop runs. tcpcopy (raw-socket capture) stays up,
#      every curl request is reproduced, its "malformed" counter shows what reached it (the
#      kernels on the way drop IP-level garbage first), and its log does not flood.
#   2  link layer: the same and more (total length beyond/below, version, bad IPv6 payload
#      length) as Ethernet frames written by the router straight onto online's link, with
#      tcpcopy capturing by libpcap on eth0 (-F 'ip or ip6': everything reaches its parser).
#   4  forged segments far ahead in sequence space (SYN, then one byte 1-200 MB further): the
#      curl requests that follow are all reproduced (tcpcopy does not fill its memory bound
#      with the gap and refuse new sessions), and tcpcopy's queue peak stays below
#      SEQFAR_MAX_PEAK_MB (16 MB; a receiver would keep at most a window per session).
#   3  corrupt capture files (tests/data/corrupt): tcpcopy -i FILE ends within 15 s, without
#      a crash or a sanitizer report, with a one-line message naming the file, and a non-zero
#      status when nothing could be replayed.
# Garbage on the channel port: test_chan_security.sh.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

GARBAGE_RANDOM=${GARBAGE_RANDOM:-10000}
GARBAGE_RATE=${GARBAGE_RATE:-4000}
N_CURL=${N_CURL:-30}
MAX_LOG_LINES=${MAX_LOG_LINES:-200}
CORRUPT_DIR=$TC_SRC/tests/data/corrupt
GARBAGE=$LAB_LIB_DIR/garbage.py
lab_up
start_http_copy

# curl_loop TAG: N_CURL requests /TAG/i, one connection each, 0.1 s apart (background: CURL_PID).
curl_loop() {
    # shellcheck disable=SC2016 # expanded by the inner shell
    ip netns exec "$NS_CLI" timeout 60 bash -c '
        for i in $(seq 1 "$3"); do
            curl -s -o /dev/null --max-time 5 "http://$1/$2/$i" || echo "curl $i failed" >&2
            sleep 0.1
        done' _ "$IP_ONL" "$1" "$N_CURL" 2>"$LAB_DIR/curl-$1.err" &
    CURL_PID=$!
    lab_track "$CURL_PID"
}

# reproduced TAG: every /TAG/ request online is on the target.
reproduced() {
    local n_on n_tg
    wait_until "[ \$(grep -c ' /$1/' $TG_LOG) -ge \$(grep -c ' /$1/' $ON_LOG) ]" 20 || true
    n_on=$(grep -c " /$1/" "$ON_LOG" || true)
    n_tg=$(grep -c " /$1/" "$TG_LOG" || true)
    log "$1: curl requests online $n_on, on the target $n_tg"
    assert_eq "$n_on" "$N_CURL" "$1: curl requests served online"
    assert_eq "$n_tg" "$n_on" "$1: curl requests reproduced"
}

# cap_malformed: captured packets tcpcopy could not parse (its --stats-json).
cap_malformed() { tc_stat capture.malformed; }

# garbage_phase TAG NS GARBAGE_ARGS...: curl loop + garbage, then the checks; sets G_MAL,
# G_SENT, G_LINES, G_EXIT_LINES.
garbage_phase() {
    local tag=$1 ns=$2 l0 l1 rss0 rss1
    shift 2
    l0=$(lines "$TCPCOPY_LOG")
    rss0=$(proc_rss_kb "$TCPCOPY_PID")
    curl_loop "$tag"
    log "$tag: garbage.py $*"
    ip netns exec "$ns" timeout 40 "$LAB_PY" "$GARBAGE" --random "$GARBAGE_RANDOM" \
        --rate "$GARBAGE_RATE" --max-seconds 30 "$@" >"$LAB_DIR/garbage-$tag.out" 2>&1 ||
        fail "$tag: garbage.py failed: $(tail -n 3 "$LAB_DIR/garbage-$tag.out")"
    sed 's/^/  /' "$LAB_DIR/garbage-$tag.out" | paste -sd ' ' | fold -w 160 -s
    wait "$CURL_PID" || true
    G_SENT=$(awk '$1 == "total" { print $3 }' "$LAB_DIR/garbage-$tag.out")
    kill -0 "$TCPCOPY_PID" 2>/dev/null || fail "$tag: tcpcopy died under garbage"
    kill -0 "$INTERCEPT_PID" 2>/dev/null || fail "$tag: intercept died"
    rss1=$(proc_rss_kb "$TCPCOPY_PID")
    log "$tag: tcpcopy alive; VmRSS $((rss0 / 1024)) MB before, $((rss1 / 1024)) MB after"
    reproduced "$tag"
    l1=$(lines "$TCPCOPY_LOG")
    G_LINES=$((l1 - l0))
    _tc_stop_one "$TCPCOPY_PID" tcpcopy "$TCPCOPY_LOG" || fail "$tag: tcpcopy did not stop cleanly"
    TCPCOPY_PID=""
    G_EXIT_LINES=$(($(lines "$TCPCOPY_LOG") - l1))
    G_MAL=$(cap_malformed)
    G_PEAK=$(tc_stat queue.peak_bytes)
    log "$tag: tcpcopy queue peak $G_PEAK bytes for $(tc_stat capture.packets) packets captured"
    log "$tag: tcpcopy log: $G_LINES lines while under garbage, $G_EXIT_LINES at exit"
    grep -vE 'final:' "$TCPCOPY_LOG" | tail -n +"$((l0 + 1))" | cut -c 1-200 | sort | uniq -c |
        sort -rn | firstn 5 | sed 's/^/  most frequent: /' || true
    [ "$G_LINES" -lt "$MAX_LOG_LINES" ] || fail "$tag: $G_LINES log lines under garbage (>= $MAX_LOG_LINES)"
    [ "$G_EXIT_LINES" -lt "$MAX_LOG_LINES" ] || fail "$tag: $G_EXIT_LINES log lines at exit (>= $MAX_LOG_LINES)"
}

# ---- 1: raw IP garbage from the client, raw-socket capture -----------------------------
garbage_phase ip "$NS_CLI" --mode ip --src "$IP_CLI" --dst "$IP_ONL" --seed 11
IP_MAL=$G_MAL IP_SENT=$G_SENT
IP_CAP=$(tc_stat capture.packets)
log "ip: sent $IP_SENT, tcpcopy captured $IP_CAP packets, malformed $IP_MAL"
assert_ge "$IP_MAL" 1 "ip: malformed packets counted by tcpcopy"

# ---- 2: link-layer garbage onto online's link, libpcap capture -----------------------------
ONL_MAC=$(on_onl cat /sys/class/net/eth0/address)
TCPCOPY_NAME=tcpcopy-l2 start_tcpcopy "${TCPCOPY_ARGS_DEFAULT[@]}" -i eth0 -F 'ip or ip6'
garbage_phase l2 "$NS_RTR" --mode l2 --dev onl0 --dst-mac "$ONL_MAC" --src "$IP_CLI" \
    --dst "$IP_ONL" --seed 12
L2_MAL=$G_MAL L2_SENT=$G_SENT
L2_CAP=$(tc_stat capture.packets)
# Every structured kind but the random ones, the fragments (reassembly is not the capture's
# job: a fragment is counted malformed too) and the IP options case is malformed on the wire.
L2_BAD=$(awk '$1 ~ /^(tcp_trunc|doff_small|doff_big|opt_zero_len|opt_len1|opt_mss_long|opt_trunc|ihl_small|ihl_big|totlen_big|totlen_small|version|ipv6_bad|not_tcp)$/ { s += $3 } END { print s + 0 }' \
    "$LAB_DIR/garbage-l2.out")
log "l2: sent $L2_SENT ($L2_BAD malformed by construction), tcpcopy captured $L2_CAP, malformed $L2_MAL"
assert_ge "$L2_MAL" "$L2_BAD" "l2: malformed packets counted by tcpcopy (at least the structured ones)"

# ---- 3: corrupt capture files --------------------------------------------------------------
# offline FILE: tcpcopy -i FILE in online (bounded); sets OF_RC, OF_MSG (its first warning or
# error line).
offline() {
    local f=$1 name
    name=$(basename "$f" .pcap)
    TCPCOPY_LOG="$LAB_DIR/offline-$name.log"
    rm -f "$(stats_file "$TCPCOPY_LOG")"
    ip netns exec "$NS_ONL" timeout 15 "$TC_BIN/tcpcopy" "${TCPCOPY_ARGS_DEFAULT[@]}" -i "$f" -I 100 \
        --stats-json "$(stats_file "$TCPCOPY_LOG")" >"$TCPCOPY_LOG" 2>&1 && OF_RC=0 || OF_RC=$?
    OF_MSG=$(grep -m1 -E ': (error|warning): ' "$TCPCOPY_LOG" | sed 's/^.*tcpcopy\[[0-9]*\]: //' || true)
    # A file tcpcopy refused (status 1 before copying) leaves no counters; a run that
    # exited 0 must have written them.
    OF_MAL=0
    if [ "$OF_RC" -eq 0 ] || [ -e "$(stats_file "$TCPCOPY_LOG")" ]; then
        OF_MAL=$(cap_malformed)
    fi
    printf '  %-26s exit %-3s %s\n' "$(basename "$f")" "$OF_RC" "${OF_MSG:-(no warning)}"
    if grep -qE 'Sanitizer|runtime error:' "$TCPCOPY_LOG"; then
        cat "$TCPCOPY_LOG" >&2
        fail "$name: sanitizer report"
    fi
    [ "$OF_RC" -ne 124 ] || fail "$name: tcpcopy did not finish within 15 s"
    [ "$OF_RC" -lt 128 ] || fail "$name: tcpcopy crashed (status $OF_RC)"
    [ "$(lines "$TCPCOPY_LOG")" -lt 40 ] || fail "$name: $(lines "$TCPCOPY_LOG") log lines"
}

[ -d "$CORRUPT_DIR" ] || fail "$CORRUPT_DIR is missing"
BAD=()
# Files of which nothing can be replayed: non-zero status and a message naming the file.
for f in empty short_header random bad_linktype pcapng_bad_blocklen pcapng_huge_block; do
    offline "$CORRUPT_DIR/$f.pcap"
    [ "$OF_RC" -ne 0 ] || BAD+=("$f: exit status 0 for a file of which nothing can be replayed")
    grep -qE "(warn|error).*$f\.pcap" "$TCPCOPY_LOG" || BAD+=("$f: no warning or error naming the file")
done
# Files cut or damaged inside a record (a packet replayed first): a warning naming the file
# and a non-zero status (as test_offline.sh requires of a truncated capture).
for f in cut_record_header cut_record_data huge_caplen; do
    offline "$CORRUPT_DIR/$f.pcap"
    [ "$OF_RC" -ne 0 ] || BAD+=("$f: exit status 0 for a damaged file")
    grep -qE "(warn|error).*$f\.pcap" "$TCPCOPY_LOG" || BAD+=("$f: no warning or error naming the file")
done
# A valid header without packets, a record longer than the file's snap length (libpcap cuts it
# to the snap length; the packet is then skipped as truncated): no crash, either status.
offline "$CORRUPT_DIR/header_only.pcap"
HDR_RC=$OF_RC
offline "$CORRUPT_DIR/caplen_gt_snaplen.pcap"
# A valid file of malformed packets: replayed to the end, every packet counted malformed or
# skipped as a bad frame.
offline "$CORRUPT_DIR/malformed_packets.pcap"
[ "$OF_RC" -eq 0 ] || BAD+=("malformed_packets: exit status $OF_RC")
OF_SKIP=$(tc_stat offline.packets_skipped)
log "malformed_packets: $OF_MAL counted malformed, $OF_SKIP skipped by the reader"
[ $((OF_MAL + OF_SKIP)) -ge 12 ] || BAD+=("malformed_packets: only $OF_MAL malformed + $OF_SKIP skipped of 12 records")
for b in "${BAD[@]}"; do log "corrupt file check failed: $b"; done

# ---- 4: forged segments far ahead in sequence space ----------------------------------------
# SEQ_FAR pairs of (SYN, then 1 byte 1-200 MB beyond it) from the client: a TCP receiver keeps
# at most its window of out-of-order data; tcpcopy must neither hold megabytes for them nor
# stop copying the real sessions that follow (the curl loop starts after the pairs are sent).
SEQ_FAR=${SEQ_FAR:-8}
SEQFAR_MAX_PEAK_MB=${SEQFAR_MAX_PEAK_MB:-16}   # 8 sessions of a 64 KB window would be 0.5 MB
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

kill -0 "$INTERCEPT_PID" 2>/dev/null || fail "intercept died"
_tc_stop_one "$INTERCEPT_PID" intercept "$INTERCEPT_LOG" || fail "intercept did not stop cleanly"
INTERCEPT_PID=""
[ "${#BAD[@]}" -eq 0 ] || fail "${#BAD[@]} checks failed: $(printf '%s; ' "${BAD[@]}")"
pass "raw IP: $IP_SENT garbage packets sent, $IP_MAL counted malformed (captured $IP_CAP); link layer: $L2_SENT sent, $L2_MAL malformed; curls 100% reproduced; $(find "$CORRUPT_DIR" -name "*.pcap" | wc -l) corrupt files handled (header only: exit $HDR_RC); $SEQ_FAR far-ahead segments: queue peak $SF_PEAK bytes"
