# shellcheck shell=bash
# shellcheck disable=SC2034
# Network trouble for the lab (LAB.md, "Network trouble"): sourced by scenarios after lib.sh.
#
# This kernel has no netem, so:
#   loss           nftables rules in the target namespace     nft_loss_copy, nft_loss_reply
#   rate limit     tc tbf on the target's eth0 (its answers)  tbf_target
#   delay, reorder, duplication (and loss)
#                  the userspace relay $TC_BIN/impair, spliced into the target's link
#                                                             impair_target_link
#
# After impair_target_link the target's link runs through a relay namespace ${P}imp:
#
#   [router] br0 --- imp0 <-veth-> ia [imp: impair ia ib] ib <-veth-> eth0 [target]
#
# so both the copy path (online -> target) and the reply path (target -> assist) cross it:
# a2b (ia -> ib) is toward the target, b2a (ib -> ia) is the target's output. The relay
# namespace is registered in LAB_NS and the relay in LAB_PIDS, so lib.sh's trap removes them.
# TSO, GSO and GRO are turned off on the target's eth0, the bridge port imp0 and ia/ib, so
# that every frame is one segment (IMPAIR_OFFLOAD=1 keeps them: the relay then forwards
# 64 KB super-frames whole, through PACKET_VNET_HDR, and an impairment hits all of one).

NS_IMP="${P}imp"
IMPAIR_PID=""
IMPAIR_LOG=""
IMPAIR_LOG_FROM=1      # the first line of the running relay's output in IMPAIR_LOG
NFT_TABLES=()          # tables this run created in the target, for nft_report

# offload_off NS DEV...: turn off TSO, GSO and GRO, so that each frame the relay sees is one
# segment (an impairment then hits one segment, not a 64 KB super-frame). ethtool when it is
# installed, else the relay's own ioctl-based --offload-off.
offload_off() {
    local ns=$1 dev
    shift
    for dev in "$@"; do
        if command -v ethtool >/dev/null 2>&1; then
            ip netns exec "$ns" ethtool -K "$dev" tso off gso off gro off >/dev/null 2>&1 ||
                log "warning: ethtool -K $dev in $ns failed"
        else
            ip netns exec "$ns" "$TC_BIN/impair" --offload-off "$dev" ||
                log "warning: impair --offload-off $dev in $ns failed"
        fi
    done
}

# impair_target_link [impair options...]: splice the relay into the target's link and start
# it with these options (--loss-a2b, --dup-b2a, --reorder-a2b, --delay-b2a, --seed ...).
# It stops by itself after IMPAIR_MAX_SECONDS (default: the lab's watchdog). Sets IMPAIR_PID
# and IMPAIR_LOG.
impair_target_link() {
    [ -x "$TC_BIN/impair" ] || fail "$TC_BIN/impair not found (set TC_BIN to the build directory)"
    _lab_ns_add "$NS_IMP"
    # The target's router-side end leaves the bridge and becomes the relay's B side; a new
    # pair takes its place on the bridge as the relay's A side.
    ip -n "$NS_RTR" link set tgt0 nomaster
    ip -n "$NS_RTR" link set tgt0 netns "$NS_IMP"
    ip -n "$NS_IMP" link set tgt0 name ib
    ip -n "$NS_IMP" link set ib up
    _lab_veth "$NS_RTR" imp0 "$NS_IMP" ia
    ip -n "$NS_RTR" link set imp0 master br0
    # IMPAIR_OFFLOAD=1 keeps the offloads (the relay then passes super-frames whole).
    if [ "${IMPAIR_OFFLOAD:-0}" = 0 ]; then
        offload_off "$NS_TGT" eth0
        offload_off "$NS_RTR" imp0
        offload_off "$NS_IMP" ia ib
    fi

    _impair_start "$@"
}

# impair_restart [impair options...]: stop the relay (printing its counters) and start it
# again on the same link with new options.
impair_restart() {
    [ -n "$IMPAIR_LOG" ] || fail "impair_restart before impair_target_link"
    impair_stop || log "warning: the previous impair did not stop cleanly"
    _impair_start "$@"
}

_impair_start() {
    local max=${IMPAIR_MAX_SECONDS:-$LAB_TIMEOUT}
    IMPAIR_LOG="$LAB_DIR/impair.log"
    IMPAIR_LOG_FROM=$(($(lines "$IMPAIR_LOG") + 1))
    log "impair ia ib $* --max-seconds $max"
    ip netns exec "$NS_IMP" "$TC_BIN/impair" --max-seconds "$max" "$@" ia ib >>"$IMPAIR_LOG" 2>&1 &
    IMPAIR_PID=$!
    lab_track "$IMPAIR_PID"
    sleep 0.2
    if ! kill -0 "$IMPAIR_PID" 2>/dev/null; then
        cat "$IMPAIR_LOG" >&2
        fail "impair exited at startup"
    fi
    # Loss on the link may eat a probe; the bound is generous.
    wait_until "reach $NS_TGT $IP_RTR" 15 || fail "target cannot reach the router through impair"
    wait_until "reach $NS_ONL $IP_TGT" 15 || fail "online cannot reach the target through impair"
    log "impair running (pid $IMPAIR_PID) between br0 and the target"
}

# impair_counter DIR KEY: a counter (rx fwd lost dup held reordered delayed qfull txerr trunc
# gso maxlen kdrops) of direction a2b or b2a from the relay's last report (final, or stats after
# impair_stats). 0 when there is none.
impair_counter() {
    awk -v d="$1" -v k="$2" '
        $1 == "impair" && ($2 == "final" || $2 == "stats") && $3 == d {
            for (i = 4; i <= NF; i++) { split($i, kv, "="); if (kv[1] == k) v = kv[2] }
        }
        END { print v + 0 }' "$IMPAIR_LOG" 2>/dev/null || echo 0
}

# impair_stats: ask the running relay for its counters (SIGUSR1) and print them.
impair_stats() {
    local n
    [ -n "$IMPAIR_PID" ] || return 0
    n=$(grep -c '^impair stats' "$IMPAIR_LOG" 2>/dev/null || true)
    kill -USR1 "$IMPAIR_PID" 2>/dev/null || return 0
    wait_until "[ \$(grep -c '^impair stats' $IMPAIR_LOG) -gt ${n:-0} ]" 3 || true
    grep '^impair stats' "$IMPAIR_LOG" | tail -n 2 | sed 's/^/  /'
}

# impair_stop: stop the relay by PID (the target's link goes down with it) and print its
# final counters. Returns 1 when it had already died or did not stop.
impair_stop() {
    local rc=0 i
    [ -n "$IMPAIR_PID" ] || return 0
    if kill -0 "$IMPAIR_PID" 2>/dev/null; then
        kill -TERM "$IMPAIR_PID" 2>/dev/null || true
        for ((i = 0; i < 50; i++)); do
            kill -0 "$IMPAIR_PID" 2>/dev/null || break
            sleep 0.1
        done
        if kill -0 "$IMPAIR_PID" 2>/dev/null; then
            kill -KILL "$IMPAIR_PID" 2>/dev/null || true
            rc=1
        fi
    else
        log "impair was no longer running"
        rc=1
    fi
    wait "$IMPAIR_PID" 2>/dev/null || rc=1
    IMPAIR_PID=""
    echo "---- impair counters (a2b: toward the target, b2a: from the target) ----"
    tail -n "+${IMPAIR_LOG_FROM:-1}" "$IMPAIR_LOG" | grep -E '^impair final|^impair:' | sed 's/^/  /'
    return "$rc"
}

# _nft_loss TABLE HOOK PERMILLE MATCH: one table in the target, hook HOOK (prerouting or
# output) at raw priority (before conntrack), two counted rules: every packet that matches,
# and those of them dropped.
_nft_loss() {
    local table=$1 hook=$2 n=$3 match=$4
    on_tgt nft -f - <<EOF || fail "nft: cannot add $table"
table ip $table {
    chain c {
        type filter hook $hook priority -300; policy accept;
        $match counter
        $match numgen random mod 1000 < $n counter drop
    }
}
EOF
    NFT_TABLES+=("$table")
    log "nft $table: $hook, $match, drop $n permille"
}

# nft_loss_copy PERMILLE [MATCH]: drop PERMILLE of the packets arriving at the target from
# the fake clients (MATCH, default "ip saddr 203.0.113.0/24").
nft_loss_copy() {
    _nft_loss tclab_loss_copy prerouting "$1" "${2:-ip saddr $FAKE_NET}"
}

# nft_loss_reply PERMILLE [MATCH]: drop PERMILLE of the target's own packets to the fake
# clients (MATCH, default "ip daddr 203.0.113.0/24"), as they leave it.
nft_loss_reply() {
    _nft_loss tclab_loss_reply output "$1" "${2:-ip daddr $FAKE_NET}"
}

# nft_clear TABLE: remove a loss table (nft_report forgets it).
nft_clear() {
    local t keep=()
    on_tgt nft delete table ip "$1" || fail "nft: cannot delete $1"
    for t in "${NFT_TABLES[@]}"; do
        [ "$t" = "$1" ] || keep+=("$t")
    done
    NFT_TABLES=("${keep[@]}")
}

# nft_counts TABLE: prints "MATCHED DROPPED" for a table made by _nft_loss.
nft_counts() {
    on_tgt nft list table ip "$1" 2>/dev/null | awk '
        /counter packets/ {
            for (i = 1; i <= NF; i++) if ($i == "packets") p = $(i + 1)
            if ($0 ~ / drop/) d = p; else m = p
        }
        END { printf "%d %d\n", m, d }'
}

# nft_dropped TABLE: the packets TABLE dropped.
nft_dropped() { nft_counts "$1" | awk '{ print $2 }'; }

# nft_report: one line per loss table of this run.
nft_report() {
    local t m d
    for t in "${NFT_TABLES[@]}"; do
        read -r m d < <(nft_counts "$t")
        echo "nft $t: dropped $d of $m packets ($(awk -v m="$m" -v d="$d" 'BEGIN { printf "%.2f%%", m ? 100 * d / m : 0 }'))"
    done
}

# tbf_target RATE [BURST [LATENCY]]: a token bucket on the target's eth0 (its answers, to
# online, assist and everyone), e.g. tbf_target 20mbit. BURST default 32kb, LATENCY 50ms.
tbf_target() {
    on_tgt tc qdisc replace dev eth0 root tbf rate "$1" burst "${2:-32kb}" latency "${3:-50ms}" ||
        fail "tc tbf on the target failed"
    log "tbf on target eth0: rate $1 burst ${2:-32kb} latency ${3:-50ms}"
}

# tbf_clear: remove it.
tbf_clear() { on_tgt tc qdisc del dev eth0 root 2>/dev/null || true; }

# tbf_report: the qdisc's counters (sent, dropped, overlimits).
tbf_report() { on_tgt tc -s qdisc show dev eth0 | sed 's/^/  /'; }

# compare_uris ONLINE_LOG TARGET_LOG: the URI multisets of two access logs. Prints the counts
# and up to 20 differences; sets URI_MISSING (online, not on the target) and URI_EXTRA.
compare_uris() {
    local on=$1 tg=$2
    uris "$on" >"$LAB_DIR/uris.online"
    uris "$tg" >"$LAB_DIR/uris.target"
    LC_ALL=C comm -23 "$LAB_DIR/uris.online" "$LAB_DIR/uris.target" >"$LAB_DIR/uris.missing"
    LC_ALL=C comm -13 "$LAB_DIR/uris.online" "$LAB_DIR/uris.target" >"$LAB_DIR/uris.extra"
    URI_MISSING=$(lines "$LAB_DIR/uris.missing")
    URI_EXTRA=$(lines "$LAB_DIR/uris.extra")
    echo "URIs: missing on target $URI_MISSING, extra on target $URI_EXTRA"
    if [ "$URI_MISSING" -gt 0 ]; then
        echo "  missing (first 20):"
        firstn 20 <"$LAB_DIR/uris.missing" | sed 's/^/    /'
    fi
    if [ "$URI_EXTRA" -gt 0 ]; then
        echo "  extra (first 20):"
        firstn 20 <"$LAB_DIR/uris.extra" | sed 's/^/    /'
    fi
}

# tcpcopy_warnings: tcpcopy's warning lines (at exit, one per session still holding data).
tcpcopy_warnings() {
    [ -n "$TCPCOPY_LOG" ] && [ -f "$TCPCOPY_LOG" ] || return 0
    grep -iE 'warn|error|lost|drop' "$TCPCOPY_LOG" | firstn 40 | sed 's/^/  /'
}
