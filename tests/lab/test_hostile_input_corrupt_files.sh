#!/usr/bin/env bash
# Hostile capture files (tests/data/corrupt): tcpcopy -i FILE ends within 15 s, without a crash
# or a sanitizer report, in fewer than 40 log lines; a file of which nothing can be replayed, or
# one cut or damaged inside a record, gives a non-zero status and a warning or error naming the
# file; a valid file of malformed packets is replayed to the end with every packet counted
# malformed or skipped.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/hostile_input_lib.sh"

lab_up
start_http_servers

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
# and a non-zero status (as test_offline_truncated.sh requires of a truncated capture).
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
stop_intercept
[ "${#BAD[@]}" -eq 0 ] || fail "${#BAD[@]} checks failed: $(printf '%s; ' "${BAD[@]}")"
pass "$(find "$CORRUPT_DIR" -name "*.pcap" | wc -l) corrupt files handled (header only: exit $HDR_RC; malformed packets: $OF_MAL malformed + $OF_SKIP skipped)"
