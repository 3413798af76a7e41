#!/usr/bin/env bash
# The startup checks of IPv6 rules: -c without addresses of a rule's family is refused
# naming the rule, and a rule whose online address is not this host's is reported (raw
# capture only).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/ipv6_lib.sh"

ipv6_lab_up
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
stop_tc || fail "intercept did not stop cleanly"
pass "IPv4-only -c refused for an IPv6 rule; the non-local rule reported"
