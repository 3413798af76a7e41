#!/usr/bin/env bash
# Copying must not disturb production: while a curl and a wrk load are copied, tcpdump records
# the client's eth0 and the online host's eth0. Afterwards: (a) every packet the client
# received came from 192.0.2.10:80; (b) on the online host, every packet from 203.0.113.0/24
# (what tcpcopy sends) goes to 192.0.2.20:8080; (c) no packet from 203.0.113.0/24 reaches the
# client; (d) the client received no TCP RST.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

lab_up
start_http_copy

# pcap_start NS FILE: tcpdump on NS's eth0 into FILE (headers only, bounded in time and
# count); waits until it captures. Sets PCAP_PID.
pcap_start() {
    local ns=$1 file=$2
    ip netns exec "$ns" timeout 60 tcpdump -i eth0 -n -s 128 -B 16384 -c 3000000 -w "$file" \
        >"$file.log" 2>&1 &
    PCAP_PID=$!
    lab_track "$PCAP_PID"
    wait_until "grep -q 'listening on' $file.log" 10 || fail "tcpdump did not start in $ns: $(cat "$file.log")"
}
# pcap_stop PID FILE: SIGTERM (timeout passes it to tcpdump, which flushes its file); prints
# tcpdump's own packet counts.
pcap_stop() {
    local pid=$1 file=$2
    kill -TERM "$pid" 2>/dev/null || true
    wait_until "! kill -0 $pid" 10 || kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    grep -E 'captured|received by filter|dropped by kernel' "$file.log" | tr '\n' ' '
}
# count FILE FILTER: packets in FILE matching the pcap FILTER.
count() {
    tcpdump -n -r "$1" "$2" 2>/dev/null | wc -l
}

CLI_PCAP="$LAB_DIR/client.pcap" ONL_PCAP="$LAB_DIR/online.pcap"
pcap_start "$NS_CLI" "$CLI_PCAP"
CLI_PCAP_PID=$PCAP_PID
pcap_start "$NS_ONL" "$ONL_PCAP"
ONL_PCAP_PID=$PCAP_PID

log "load: 100 curls (10 in parallel, one per connection), then wrk -t1 -c10, 15,000 requests"
curl_bad=0
for b in $(seq 1 10); do
    pids=()
    for i in $(seq 1 10); do
        on_cli curl -s -m 5 -o /dev/null "http://$IP_ONL/c/$b/$i" &
        pids+=($!)
    done
    for p in "${pids[@]}"; do
        wait "$p" || curl_bad=$((curl_bad + 1))
    done
done
assert_eq "$curl_bad" 0 "curls that failed"
wrk_count nd 10 15000 "http://$IP_ONL/"
settle "lines $TG_LOG" 30 "$(lines "$ON_LOG")" >/dev/null
report "$ON_LOG" "$TG_LOG"
uri_share "$ON_LOG" "$TG_LOG" 1 '$' all
if [ "$SHARE_HIT" -lt "$SHARE_N" ]; then
    log "not reproduced (not asserted here): $((SHARE_N - SHARE_HIT)), first: $(firstn 6 <"$LAB_DIR/missing-all.txt" | tr '\n' ' ')"
fi
stop_tc || fail "tcpcopy or intercept did not stop cleanly"
sleep 0.5
echo "client capture: $(pcap_stop "$CLI_PCAP_PID" "$CLI_PCAP")"
echo "online capture: $(pcap_stop "$ONL_PCAP_PID" "$ONL_PCAP")"

# IPv6 link housekeeping (router solicitations, MLD reports from link-local addresses to
# multicast groups) is the kernel's own, not traffic: counted apart.
LINKLOCAL="ip6 and (src net fe80::/10 or dst net ff00::/8)"
OTHER="(ip or ip6) and not src host $IP_CLI and not (tcp and src host $IP_ONL and src port 80) and not ($LINKLOCAL)"
cli_all=$(count "$CLI_PCAP" 'ip or ip6')
cli_in=$(count "$CLI_PCAP" "(ip or ip6) and not src host $IP_CLI and not ($LINKLOCAL)")
cli_in_ok=$(count "$CLI_PCAP" "tcp and src host $IP_ONL and src port 80 and dst host $IP_CLI")
cli_in_other=$(count "$CLI_PCAP" "$OTHER")
cli_nd=$(count "$CLI_PCAP" "$LINKLOCAL")
cli_fake=$(count "$CLI_PCAP" "src net $FAKE_NET or dst net $FAKE_NET")
cli_from_tgt=$(count "$CLI_PCAP" "src host $IP_TGT or src host $IP_AST")
cli_rst_in=$(count "$CLI_PCAP" "tcp[tcpflags] & tcp-rst != 0 and not src host $IP_CLI")
cli_rst_out=$(count "$CLI_PCAP" "tcp[tcpflags] & tcp-rst != 0 and src host $IP_CLI")
onl_fake=$(count "$ONL_PCAP" "src net $FAKE_NET")
onl_fake_ok=$(count "$ONL_PCAP" "tcp and src net $FAKE_NET and dst host $IP_TGT and dst port 8080")
onl_fake_bad=$(count "$ONL_PCAP" "src net $FAKE_NET and not (tcp and dst host $IP_TGT and dst port 8080)")
onl_to_cli_bad=$(count "$ONL_PCAP" "dst host $IP_CLI and not (tcp and src host $IP_ONL and src port 80)")
echo "client eth0: $cli_all IP packets; received $cli_in: from $IP_ONL:80 $cli_in_ok, IPv6 link-local housekeeping $cli_nd, anything else $cli_in_other; from/to $FAKE_NET $cli_fake; from target/assist $cli_from_tgt; RST received $cli_rst_in, RST sent by the client $cli_rst_out"
echo "online eth0: from $FAKE_NET $onl_fake (to $IP_TGT:8080 $onl_fake_ok, elsewhere $onl_fake_bad); to the client other than from :80 $onl_to_cli_bad"
if [ "$cli_in_other" -gt 0 ]; then
    tcpdump -n -r "$CLI_PCAP" "$OTHER" 2>/dev/null |
        firstn 5 | sed 's/^/  unexpected at the client: /'
fi
if [ "$onl_fake_bad" -gt 0 ]; then
    tcpdump -n -r "$ONL_PCAP" "src net $FAKE_NET and not (tcp and dst host $IP_TGT and dst port 8080)" 2>/dev/null |
        firstn 5 | sed 's/^/  misdirected on online: /'
fi
assert_ge "$cli_in_ok" 1000 "packets the client received from the production server"
assert_ge "$onl_fake_ok" 1000 "packets tcpcopy sent to the target, seen on online's eth0"
assert_ge "$N_TARGET" 1 "requests reproduced on the target"
assert_eq "$cli_in_other" 0 "(a) packets at the client from anything but $IP_ONL:80"
assert_eq "$onl_fake_bad" 0 "(b) packets from $FAKE_NET on online not to $IP_TGT:8080"
assert_eq "$cli_fake" 0 "(c) packets from/to $FAKE_NET at the client"
assert_eq "$cli_from_tgt" 0 "(c) packets from the target or assist at the client"
assert_eq "$cli_rst_in" 0 "(d) TCP RSTs the client received"
pass "client received $cli_in_ok packets, all from $IP_ONL:80, no RST; tcpcopy sent $onl_fake_ok packets, all to $IP_TGT:8080 (client sent $cli_rst_out RSTs itself, wrk closing)"
