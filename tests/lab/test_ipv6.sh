#!/usr/bin/env bash
# IPv6 copies, and -x rules of both families in one tcpcopy. Each part is a full-rate load
# bounded by count (wrk_count: unique URIs) and must be reproduced 100% (set of URIs), with
# no capture loss in tcpcopy's final counters and no packet it could not parse:
#   v6raw  the default raw socket capture, an IPv6 rule, -c 2001:db8:3::x
#   v6pcap the same with --pcap-capture -i eth0
#   mixed  -x 80-192.0.2.20:8080,[2001:db8:1::10]:80-[2001:db8:1::20]:8080 (an any-address
#          IPv4 rule first: it must not take the IPv6 packets) and -c 203.0.113.x,2001:db8:3::x,
#          IPv4 and IPv6 loads at once; each family reaches the target from its own -c range
#   mixedpcap  the same with --pcap-capture -i eth0
# and the startup checks: -c without addresses of a rule's family is refused naming the rule,
# and a rule whose online address is not this host's is reported (raw capture only).
set -euo pipefail
. "$(dirname "$0")/lib.sh"

TOTAL=${TOTAL:-20000}          # requests per load
MIN_SERVED=1000                # a load that served fewer says the lab is broken, not tcpcopy
ON6=2001:db8:1::10
X6="[$ON6]:80-[2001:db8:1::20]:8080"
XMIX="80-$IP_TGT:8080,$X6"

lab_up
start_nginx "$NS_ONL" 80 online
ON_LOG=$NGINX_LOG
start_nginx "$NS_TGT" 8080 target
TG_LOG=$NGINX_LOG
start_intercept -i eth0 -F 'tcp and src port 8080'

# --- startup checks --------------------------------------------------------------------------

# A v6 rule with only IPv4 -c addresses: refused at startup, the rule named.
rc=0
out=$(on_onl "$TC_BIN/tcpcopy" -x "$XMIX" -s "$IP_AST" -c 203.0.113.x 2>&1) || rc=$?
[ "$rc" -ne 0 ] || fail "tcpcopy accepted an IPv6 rule with only IPv4 -c addresses"
echo "$out" | grep -qF "rule 2 '$X6' has an IPv6 target but -c has no IPv6 address" ||
    fail "no clear refusal of -c without IPv6 addresses: $out"
log "ok: refused: $(echo "$out" | firstn 1)"

# A rule for an address this host does not have: the raw capture can never see it.
TCPCOPY_NAME=tcpcopy-warn
start_tcpcopy -x "$X6,[2001:db8:1::11]:81-[2001:db8:1::20]:8080" -s "$IP_AST" -c 2001:db8:3::x
_tc_stop_one "$TCPCOPY_PID" tcpcopy "$TCPCOPY_LOG" >/dev/null || fail "warn: tcpcopy did not stop cleanly"
TCPCOPY_PID=""
grep -qF "rule 2 '[2001:db8:1::11]:81-[2001:db8:1::20]:8080' copies nothing: 2001:db8:1::11 is not an address of this host" \
    "$TCPCOPY_LOG" || fail "no warning for a rule whose online address is not local"
n_warn=$(grep -c 'copies nothing' "$TCPCOPY_LOG" || true)
assert_eq "$n_warn" 1 "rules reported as copying nothing (only the non-local one)"

# --- loads -----------------------------------------------------------------------------------

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

run_part v6raw "v6raw http://[$ON6]/" -x "$X6" -s "$IP_AST" -c 2001:db8:3::x
grep -q 'capturing with raw sockets: IPv6$' "$TCPCOPY_LOG" || fail "v6raw: no IPv6 raw socket"
share_of v6raw v6raw
from_range v6raw '^2001:db8:3::'

run_part v6pcap "v6pcap http://[$ON6]/" -x "$X6" -s "$IP_AST" -c 2001:db8:3::x \
    --pcap-capture -i eth0
! grep -q 'copies nothing' "$TCPCOPY_LOG" || fail "v6pcap: a rule reported as copying nothing"
share_of v6pcap v6pcap
from_range v6pcap '^2001:db8:3::'

run_part mixed "mix4 http://$IP_ONL/
mix6 http://[$ON6]/" -x "$XMIX" -s "$IP_AST" -c 203.0.113.x,2001:db8:3::x
grep -q 'capturing with raw sockets: IPv4 IPv6$' "$TCPCOPY_LOG" || fail "mixed: not both raw sockets"
grep -q 'copying port 80 (any IPv4 address)' "$TCPCOPY_LOG" || fail "mixed: the any-address rule's family is not logged"
share_of mixed mix4
share_of mixed mix6
from_range mix4 '^203\.0\.113\.'
from_range mix6 '^2001:db8:3::'

# The same rules with libpcap: the IPv4 any-address rule's filter clause lets IPv6 packets to
# port 80 through, and the rule must still leave them to the IPv6 rule.
run_part mixedpcap "pmix4 http://$IP_ONL/
pmix6 http://[$ON6]/" -x "$XMIX" -s "$IP_AST" -c 203.0.113.x,2001:db8:3::x --pcap-capture -i eth0
share_of mixedpcap pmix4
share_of mixedpcap pmix6
from_range pmix4 '^203\.0\.113\.'
from_range pmix6 '^2001:db8:3::'

stop_tc || fail "intercept did not stop cleanly"
pass "${RESULTS[*]}"
