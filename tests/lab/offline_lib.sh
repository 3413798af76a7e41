# shellcheck shell=bash
# shellcheck disable=SC2034 # variables for the scenarios that source this file
# What the offline-replay scenarios share (test_offline_pace, _accel, _pcapng, _sll,
# _truncated, _bad_files): traffic to the online nginx recorded with tcpdump (eth0: Ethernet;
# any: Linux cooked), then replayed by tcpcopy from a file to the target, with intercept for
# the replies. Sourced after lib.sh.

N_CURL=${N_CURL:-60}       # curl invocations, 5 unique URIs each over one connection

# offline_servers: nginx online and on the target (ON_LOG, TG_LOG); tcpdump must exist.
offline_servers() {
    command -v tcpdump >/dev/null || fail "tcpdump is needed"
    start_nginx "$NS_ONL" 80 online
    ON_LOG=$NGINX_LOG
    start_nginx "$NS_TGT" 8080 target
    TG_LOG=$NGINX_LOG
}

# offline_record: record N_CURL curl connections x 5 requests, then wrk -d2s, with tcpdump on
# eth0 (CAP) and on any (CAP_ANY); no packet dropped by either, at least 1,000 requests served.
# Sets N_REC (requests served), $LAB_DIR/rec.uris (their URI set), LT SPAN NPKT (link type,
# seconds spanned, packets of CAP) and LT_ANY SPAN_ANY NPKT_ANY (of CAP_ANY).
offline_record() {
    local td1 td2 i f d
    CAP=$LAB_DIR/eth0.pcap
    CAP_ANY=$LAB_DIR/any.pcap
    # Only the client's side is needed (its ACKs tell the answers' sizes): the files stay small.
    # A 32 MB kernel buffer (-B), and no --immediate-mode: in immediate mode libpcap uses a
    # TPACKET_V2 ring of frames the size of the snapshot length (256 KB with -s 0), about 128 of
    # them in 32 MB, and a busy machine lost packets of the recording; without it, TPACKET_V3
    # blocks hold each packet in the space it needs. Blocks are handed over when full or after
    # tcpdump's 1 s timeout: the recording stops 2 s after the load.
    ip netns exec "$NS_ONL" tcpdump -Z root -B 32768 -i eth0 -U -s 0 -w "$CAP" 'tcp dst port 80' \
        >"$LAB_DIR/tcpdump-eth0.log" 2>&1 &
    td1=$!
    lab_track "$td1"
    ip netns exec "$NS_ONL" tcpdump -Z root -B 32768 -i any -U -s 0 -w "$CAP_ANY" 'tcp dst port 80' \
        >"$LAB_DIR/tcpdump-any.log" 2>&1 &
    td2=$!
    lab_track "$td2"
    wait_until "grep -q listening $LAB_DIR/tcpdump-eth0.log && grep -q listening $LAB_DIR/tcpdump-any.log" 10 ||
        fail "tcpdump did not start"

    log "recording: $N_CURL curl connections x 5 requests, then wrk -d2s"
    for ((i = 1; i <= N_CURL; i++)); do
        on_cli curl -s --max-time 5 "http://$IP_ONL/c/$i/[1-5]" >/dev/null || fail "curl $i failed"
    done
    sleep 1
    wrk_uri_script "$LAB_DIR/uri.lua" w
    # About 1 ms between a connection's requests: a few thousand requests, not tens of thousands.
    printf 'function delay()\n    return 1\nend\n' >>"$LAB_DIR/uri.lua"
    on_cli timeout 20 wrk -t1 -c2 -d2s --timeout 3s -s "$LAB_DIR/uri.lua" "http://$IP_ONL/" |
        sed 's/^/  /'
    sleep 2
    kill -INT "$td1" "$td2" 2>/dev/null || true
    wait "$td1" 2>/dev/null || true
    wait "$td2" 2>/dev/null || true
    for f in "$LAB_DIR/tcpdump-eth0.log" "$LAB_DIR/tcpdump-any.log"; do
        d=$(grep -oE '^[0-9]+ packets dropped by kernel' "$f" | grep -oE '^[0-9]+') ||
            fail "no drop count in $(basename "$f"): $(tr '\n' ' ' <"$f")"
        [ "$d" -eq 0 ] || fail "the recording itself is incomplete: tcpdump dropped $d packets ($(basename "$f"))"
    done
    N_REC=$(lines "$ON_LOG")
    assert_ge "$N_REC" 1000 "requests served online while recording"
    uris "$ON_LOG" | LC_ALL=C sort -u >"$LAB_DIR/rec.uris"
    log "capture files: $(stat -c %s "$CAP") and $(stat -c %s "$CAP_ANY") bytes"

    read -r LT SPAN NPKT <<<"$(pcap_info "$CAP")"
    read -r LT_ANY SPAN_ANY NPKT_ANY <<<"$(pcap_info "$CAP_ANY")"
    log "eth0 capture: link type $LT, $NPKT packets over $SPAN s; any: link type $LT_ANY, $NPKT_ANY packets"
    assert_eq "$LT" 1 "link type of the eth0 capture (Ethernet)"
    case $LT_ANY in 113 | 276) log "ok: the any capture is Linux cooked ($LT_ANY)" ;; *) fail "any capture: link type $LT_ANY" ;; esac
}

# pcap_info FILE: "linktype span_seconds packets" of a classic pcap file.
pcap_info() {
    "$LAB_PY" - "$1" <<'PY'
import struct, sys
d = open(sys.argv[1], 'rb').read()
magic = struct.unpack('<I', d[:4])[0]
e = '<' if magic in (0xa1b2c3d4, 0xa1b23c4d) else '>'
div = 1e9 if struct.unpack(e + 'I', d[:4])[0] == 0xa1b23c4d else 1e6
lt = struct.unpack(e + 'I', d[20:24])[0]
off, ts, n = 24, [], 0
while off + 16 <= len(d):
    s, u, cl, ol = struct.unpack(e + 'IIII', d[off:off + 16])
    ts.append(s + u / div)
    off += 16 + cl
    n += 1
print(lt, "%.3f" % (max(ts) - min(ts)), n)
PY
}

# to_pcapng IN OUT: rewrite a classic pcap as pcapng (SHB, IDB with if_tsresol, EPBs).
to_pcapng() {
    "$LAB_PY" - "$1" "$2" <<'PY'
import struct, sys
d = open(sys.argv[1], 'rb').read()
assert struct.unpack('<I', d[:4])[0] == 0xa1b2c3d4, "little-endian microsecond pcap expected"
snap, lt = struct.unpack('<II', d[16:24])
def block(t, body):
    body += b'\0' * (-len(body) % 4)
    n = 12 + len(body)
    return struct.pack('<II', t, n) + body + struct.pack('<I', n)
out = [block(0x0A0D0D0A, struct.pack('<IHHq', 0x1A2B3C4D, 1, 0, -1))]
opts = struct.pack('<HHB', 9, 1, 6) + b'\0' * 3 + struct.pack('<HH', 0, 0)  # if_tsresol = 10^-6
out.append(block(1, struct.pack('<HHI', lt, 0, snap) + opts))
off = 24
while off + 16 <= len(d):
    s, u, cl, ol = struct.unpack('<IIII', d[off:off + 16])
    t = s * 1000000 + u
    out.append(block(6, struct.pack('<IIIII', 0, t >> 32, t & 0xffffffff, cl, ol) + d[off + 16:off + 16 + cl]))
    off += 16 + cl
open(sys.argv[2], 'wb').write(b''.join(out))
PY
}

# replay NAME ARGS...: tcpcopy in the online namespace on a file, in the foreground (bounded);
# sets RP_RC, RP_WALL (seconds) and RP_TIME (the replay itself, from tcpcopy's log).
replay() {
    local name=$1 t0 t1
    shift
    : >"$TG_LOG"
    TCPCOPY_LOG="$LAB_DIR/tcpcopy-$name.log"
    log "replay $name: tcpcopy ${TCPCOPY_ARGS_DEFAULT[*]} $*"
    t0=$(date +%s.%N)
    ip netns exec "$NS_ONL" timeout 40 "$TC_BIN/tcpcopy" "${TCPCOPY_ARGS_DEFAULT[@]}" "$@" >"$TCPCOPY_LOG" 2>&1 &
    TCPCOPY_PID=$!
    lab_track "$TCPCOPY_PID"
    wait "$TCPCOPY_PID" && RP_RC=0 || RP_RC=$?
    TCPCOPY_PID=""
    t1=$(date +%s.%N)
    RP_WALL=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
    RP_TIME=$(grep -oE 'packets in [0-9.]+ s' "$TCPCOPY_LOG" | tail -n 1 | grep -oE '[0-9.]+ s' | tr -d ' s' || true)
    RP_TIME=${RP_TIME:-0}
    log "replay $name: exit $RP_RC after $RP_WALL s (replay $RP_TIME s)"
    if grep -qE 'Sanitizer|runtime error:' "$TCPCOPY_LOG"; then
        fail "replay $name: sanitizer report"
    fi
}

# same_uris NAME: the target's URI set equals the recorded one.
same_uris() {
    settle "lines $TG_LOG" 30 "$N_REC" 5 >/dev/null
    awk '{ print $4 }' "$TG_LOG" | LC_ALL=C sort -u >"$LAB_DIR/tg-$1.uris"
    local miss extra
    miss=$(LC_ALL=C comm -23 "$LAB_DIR/rec.uris" "$LAB_DIR/tg-$1.uris" | wc -l)
    extra=$(LC_ALL=C comm -13 "$LAB_DIR/rec.uris" "$LAB_DIR/tg-$1.uris" | wc -l)
    log "$1: recorded $(lines "$LAB_DIR/rec.uris") URIs, target $(lines "$LAB_DIR/tg-$1.uris"), missing $miss, extra $extra"
    [ "$miss" -eq 0 ] && [ "$extra" -eq 0 ] || {
        LC_ALL=C comm -3 "$LAB_DIR/rec.uris" "$LAB_DIR/tg-$1.uris" | firstn 10 >&2
        fail "$1: the target's requests differ from the recording"
    }
}

# offline_stop: intercept stopped cleanly.
offline_stop() {
    _tc_stop_one "$INTERCEPT_PID" intercept "$INTERCEPT_LOG" || fail "intercept did not stop cleanly"
    INTERCEPT_PID=""
}
