# shellcheck shell=bash
# What the IPv6 scenarios share (test_ipv6_*.sh): IPv6 copies, and -x rules of both families
# in one tcpcopy. Each load is full-rate and bounded by count (wrk_count: unique URIs) and
# must be reproduced 100% (set of URIs), with no capture loss in tcpcopy's final counters and
# no packet it could not parse.

TOTAL=${TOTAL:-20000}          # requests per load
MIN_SERVED=1000                # a load that served fewer says the lab is broken, not tcpcopy
ON6=2001:db8:1::10
X6="[$ON6]:80-[2001:db8:1::20]:8080"
XMIX="80-$IP_TGT:8080,$X6"

# ipv6_lab_up: the lab, nginx online (:80) and on the target (:8080), intercept.
ipv6_lab_up() {
    lab_up
    start_nginx "$NS_ONL" 80 online
    ON_LOG=$NGINX_LOG
    start_nginx "$NS_TGT" 8080 target
    TG_LOG=$NGINX_LOG
    start_intercept -i eth0 -F 'tcp and src port 8080'
}

# check_counters NAME: tcpcopy's final counters after a part: no capture loss, nothing it could
# not parse or map, no capture gap skipped.
check_counters() {
    local name=$1 k v
    for k in capture.kernel_drops capture.malformed sessions.not_copied.address_family gaps_skipped; do
        v=$(tc_stat "$k")
        [ "$v" = 0 ] || fail "$name: tcpcopy's final counters: $k $v"
    done
    log "ok: $name: kernel drops 0, malformed 0, address family 0, capture gaps skipped 0"
}

# share_of NAME PREFIX: uri_share over the requests under /PREFIX/ alone (the online and target
# logs filtered), asserted to be 1.0000 of at least MIN_SERVED requests.
share_of() {
    local name=$1 prefix=$2
    grep -F " /$prefix/" "$ON_LOG" >"$LAB_DIR/on-$prefix.log" || true
    grep -F " /$prefix/" "$TG_LOG" >"$LAB_DIR/tg-$prefix.log" || true
    uri_share "$LAB_DIR/on-$prefix.log" "$LAB_DIR/tg-$prefix.log" 1 '$' "$prefix"
    assert_ge "$SHARE_N" "$MIN_SERVED" "$name: $prefix requests served online"
    if [ "$SHARE" != "1.0000" ]; then
        firstn 5 <"$LAB_DIR/missing-$prefix.txt" >&2
        fail "$name: $SHARE_HIT of $SHARE_N $prefix requests reproduced"
    fi
    RESULTS+=("$prefix $SHARE_HIT/$SHARE_N")
}

# from_range PREFIX NET: every target request under /PREFIX/ came from the -c range NET
# (a regular expression on the client address).
from_range() {
    local bad
    bad=$(awk -v re="$2" '$1 !~ re' "$LAB_DIR/tg-$1.log" | firstn 3 | tr '\n' ';')
    [ -z "$bad" ] || fail "$1: target requests from outside the -c range: $bad"
}

# run_part NAME LOADS TCPCOPY_ARGS...: tcpcopy with the args, then the loads ("prefix url" per
# line, run at once), the wait for the copy, the counters.
RESULTS=()
run_part() {
    local name=$1 loads=$2 expected prefix url re tg_before
    shift 2
    tg_before=$(lines "$TG_LOG")
    TCPCOPY_NAME="tcpcopy-$name"
    start_tcpcopy "$@"
    while read -r prefix url; do
        wrk_count_bg "$prefix" 10 "$TOTAL" "$url"
    done <<<"$loads"
    while read -r prefix url; do
        wrk_count_wait "$prefix"
    done <<<"$loads"
    # What the target will have once this part is copied: what it had, plus this part's
    # requests served online.
    re=$(awk '{ print $1 }' <<<"$loads" | paste -sd'|')
    expected=$((tg_before + $(grep -cE " /($re)/" "$ON_LOG" || true)))
    settle "lines $TG_LOG" 60 "$expected" >/dev/null
    _tc_stop_one "$TCPCOPY_PID" tcpcopy "$TCPCOPY_LOG" || fail "$name: tcpcopy did not stop cleanly"
    TCPCOPY_PID=""
    check_counters "$name"
}

