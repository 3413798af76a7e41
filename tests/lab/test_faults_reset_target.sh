#!/usr/bin/env bash
# Fault at the target: a target that resets every connection. nft in the target resets the
# fake clients' packets to 8080, first all of them (SYNs refused), then all but the SYNs
# (accepted, then reset at the first request), during a paced wrk load: refused SYNs retried
# and target resets counted (faults_lib.sh: tcpcopy and intercept stay up, RSS bounded, fresh
# requests after the fault reproduced).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/faults_lib.sh"

faults_lab_up
# d_rule MATCH: (re)make the reset table with one counted rule.
d_rule() {
    on_tgt nft delete table inet tclab_rst 2>/dev/null || true
    on_tgt nft -f - <<EOF || fail "d: nft"
table inet tclab_rst {
    chain c {
        type filter hook input priority 0; policy accept;
        ip saddr $FAKE_NET tcp dport 8080 $1 counter reject with tcp reset
    }
}
EOF
}
d_count() { on_tgt nft list table inet tclab_rst | grep -oE 'packets [0-9]+' | grep -oE '[0-9]+'; }
TCPCOPY_NAME=tcpcopy-d start_tcpcopy
d_rule ""
log "d: the target resets every packet from $FAKE_NET to 8080 (SYNs refused)"
load_start d 4
sleep 2
d_syn=$(d_count)
d_rule "tcp flags & syn == 0"
log "d: t=2 s: $d_syn packets reset; now every connection is accepted and reset at its first request"
alive_check "d (resets)"
load_wait d
sleep 1
d_data=$(d_count)
on_tgt nft delete table inet tclab_rst
log "d: $d_data packets reset after t=2 s; rule removed"
alive_check d
settle_phase d 10
uri_share "$ON_LOG" "$TG_LOG" "$PH_FROM" "$PH_TO" d
d_all="$SHARE_HIT/$SHARE_N ($SHARE)"
recover d
stop_copy d
d_synr=$(tc_stat target.retransmissions.refused_syn) d_reset=$(tc_stat sessions.outcome.target_reset)
d_rebuilt=$(tc_stat sessions.events.rebuilt) d_refused=$(tc_stat sessions.outcome.target_refused)
log "d: SYN retries $d_synr, rebuilt $d_rebuilt, target_reset $d_reset, target_refused $d_refused"
assert_ge "$d_syn" 1 "d: SYNs refused by the target"
assert_ge "$d_data" 1 "d: data packets reset by the target"
assert_ge "$d_synr" 1 "d: refused SYNs retried (counted)"
assert_ge $((d_reset + d_rebuilt)) 1 "d: target resets counted (target_reset or rebuilt)"
faults_end "resetting target: reproduced $d_all (resets in place), SYN retries $d_synr, rebuilt $d_rebuilt, target_reset $d_reset"
