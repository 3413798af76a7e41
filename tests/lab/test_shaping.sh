#!/usr/bin/env bash
# Traffic shaping options, one tcpcopy run each, intercept shared:
#   -n 3                       exactly 3x the requests at the target, all client ports distinct
#   -r 50                      50% +- 5% of 1000 short sessions (distinct source ports)
#   -c 203.0.113.5,203.0.113.6 and -c 203.0.113.x: the target sees only those addresses
#   -m 16                      20 MB uploads to a target slowed by tc tbf: tcpcopy stays up,
#                              reports refused/shed sessions, and copies again after the load
set -euo pipefail
. "$(dirname "$0")/lib.sh"

lab_up
start_nginx "$NS_ONL" 80 online
ON_LOG=$NGINX_LOG
start_nginx "$NS_TGT" 8080 target
TG_LOG=$NGINX_LOG
start_recorder "$NS_ONL" 0.0.0.0 81 online
start_recorder "$NS_TGT" 0.0.0.0 8081 target
start_intercept -i eth0 -F 'tcp and (src port 8080 or src port 8081)'
XS=(-x 80-192.0.2.20:8080,81-192.0.2.20:8081 -s 192.0.2.30)
RESULTS=()

# stop_copy: stop tcpcopy only (intercept stays), keep its log as tcpcopy-NAME.log.
stop_copy() {
    _tc_stop_one "$TCPCOPY_PID" tcpcopy "$TCPCOPY_LOG" >/dev/null || fail "$1: tcpcopy did not stop cleanly"
    TCPCOPY_PID=""
    mv "$TCPCOPY_LOG" "$LAB_DIR/tcpcopy-$1.log"
    mv "$(stats_file "$TCPCOPY_LOG")" "$(stats_file "$LAB_DIR/tcpcopy-$1.log")"
    TCPCOPY_LOG="$LAB_DIR/tcpcopy-$1.log"
}

# curls PREFIX N: N curl connections of 2 requests each, URIs /PREFIX/i/{1,2}.
curls() {
    local i
    for ((i = 1; i <= $2; i++)); do
        on_cli curl -s --max-time 5 "http://$IP_ONL/$1/$i/[1-2]" >/dev/null || fail "$1: curl $i failed"
    done
}

# target_lines PREFIX: the target's log lines for URIs under /PREFIX/.
target_lines() { grep -E " /$1/" "$TG_LOG" || true; }

# ---- -n 3 ----------------------------------------------------------------------------------
start_tcpcopy "${XS[@]}" -c 203.0.113.x -n 3
curls n3 50
settle "target_lines n3 | wc -l" 30 300 >/dev/null
stop_copy n3
N_REQ=$(target_lines n3 | wc -l)
N_PORTS=$(target_lines n3 | awk '{ print $1 " " $2 }' | LC_ALL=C sort -u | wc -l)
N_URI=$(target_lines n3 | awk '{ print $4 }' | LC_ALL=C sort | uniq -c | awk '$1 != 3' | wc -l)
assert_eq "$N_REQ" 300 "-n 3: requests at the target (100 online)"
assert_eq "$N_PORTS" 150 "-n 3: distinct client address:port at the target (50 online)"
assert_eq "$N_URI" 0 "-n 3: URIs not seen exactly 3 times"
RESULTS+=("n3 $N_REQ/300")

# ---- -r 50 ---------------------------------------------------------------------------------
start_tcpcopy "${XS[@]}" -c 203.0.113.x -r 50
log "-r 50: 1000 short sessions"
short_sessions 1000 r50 || fail "-r 50: the client failed"
settle_to_counter "target_lines r50 | wc -l" sessions.created 30 >/dev/null
stop_copy r50
N_ON=$(grep -c ' /r50/' "$ON_LOG" || true)
N_TG=$(target_lines r50 | wc -l)
N_TGP=$(target_lines r50 | awk '{ print $2 }' | LC_ALL=C sort -u | wc -l)
assert_eq "$N_ON" 1000 "-r 50: sessions online"
PCT=$(awk -v a="$N_TG" 'BEGIN { printf "%.1f", a / 10 }')
log "-r 50: $N_TG of 1000 sessions copied ($PCT%), $N_TGP distinct ports"
awk -v p="$PCT" 'BEGIN { exit !(p >= 45 && p <= 55) }' || fail "-r 50: $PCT% of sessions copied"
assert_eq "$N_TGP" "$N_TG" "-r 50: one request per copied session"
RESULTS+=("r50 $PCT%")

# ---- -c lists and ranges -------------------------------------------------------------------
start_tcpcopy "${XS[@]}" -c 203.0.113.5,203.0.113.6
curls clist 20
settle "target_lines clist | wc -l" 30 40 >/dev/null
stop_copy clist
assert_eq "$(target_lines clist | wc -l)" 40 "-c list: requests at the target"
BAD=$(target_lines clist | awk '$1 != "203.0.113.5" && $1 != "203.0.113.6"' | wc -l)
assert_eq "$BAD" 0 "-c list: requests from other addresses"
log "-c list: addresses seen: $(target_lines clist | awk '{ print $1 }' | sort -u | tr '\n' ' ')"

start_tcpcopy "${XS[@]}" -c 203.0.113.x
curls crange 20
settle "target_lines crange | wc -l" 30 40 >/dev/null
stop_copy crange
assert_eq "$(target_lines crange | wc -l)" 40 "-c .x: requests at the target"
BAD=$(target_lines crange | awk '{ split($1, a, "."); if (!(a[1] "." a[2] "." a[3] == "203.0.113" && a[4] >= 1 && a[4] <= 254)) print }' | wc -l)
assert_eq "$BAD" 0 "-c .x: requests from outside 203.0.113.1-254"
RESULTS+=("c-list,c-range ok")

# ---- -m 16 under load ----------------------------------------------------------------------
start_tcpcopy "${XS[@]}" -c 203.0.113.x -m 16
# The target's packets (its ACKs too) leave at 200 kbit/s: copied uploads queue up in tcpcopy.
on_tgt tc qdisc add dev eth0 root tbf rate 200kbit burst 16kb latency 500ms
head -c $((20 * 1024 * 1024)) /dev/urandom >"$LAB_DIR/body.bin"
log "-m 16: 4 parallel uploads of 20 MB, 5 short requests each second meanwhile"
UP=()
for i in 1 2 3 4; do
    ip netns exec "$NS_CLI" curl -s -m 60 --data-binary "@$LAB_DIR/body.bin" -o /dev/null \
        "http://$IP_ONL:81/up/$i" &
    UP+=($!)
    lab_track "$!"
done
for ((k = 0; k < 6; k++)); do
    on_cli curl -s --max-time 3 "http://$IP_ONL/mload/$k/[1-5]" >/dev/null || true
    sleep 1
done
for pid in "${UP[@]}"; do
    wait "$pid" || fail "-m 16: an upload failed online"
done
kill -0 "$TCPCOPY_PID" 2>/dev/null || fail "-m 16: tcpcopy died under load"
grep -qE 'memory limit|queue limit' "$TCPCOPY_LOG" || fail "-m 16: nothing logged about the memory limit"
log "-m 16: $(grep -m1 -E 'memory limit|queue limit' "$TCPCOPY_LOG" | sed 's/.*: warning: //')"
on_tgt tc qdisc del dev eth0 root
# Let the queue drain (or the shed sessions go), then copy a few requests again.
sleep 3
curls mafter 5
settle "target_lines mafter | wc -l" 30 10 >/dev/null
N_AFTER=$(target_lines mafter | wc -l)
kill -0 "$TCPCOPY_PID" 2>/dev/null || fail "-m 16: tcpcopy died after the load"
stop_copy m16
assert_eq "$N_AFTER" 10 "-m 16: requests copied after the load"
MEM_REFUSED=$(tc_stat sessions.not_copied.memory)
MEM_SHED=$(tc_stat sessions.outcome.memory_limit)
DROPPED=$(tc_stat queue.dropped_bytes)
log "-m 16: sessions refused $MEM_REFUSED, shed $MEM_SHED, bytes dropped $DROPPED"
awk -v a="$MEM_REFUSED" -v b="$MEM_SHED" 'BEGIN { exit !(a + b > 0) }' ||
    fail "-m 16: no session refused or shed"
RESULTS+=("m16 refused $MEM_REFUSED shed $MEM_SHED, after $N_AFTER/10")

stop_tc || fail "intercept did not stop cleanly"
pass "${RESULTS[*]}"
