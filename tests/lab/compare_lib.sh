# compare_lib.sh: the nginx scenario of tcpcopy --compare (issue 20), sourced by
# test_compare_http*.sh after lib.sh. Debian's nginx online (port 80) and on the target (8080)
# serve the same static files (same sizes, same modification times: the same ETag and
# Last-Modified), except a known set: CHANGED files differ in one byte on the target (kind
# "body"), GONE files are missing there (404 against 200: kind "status"), and /big, 20 MB,
# differs in one byte near its end. Clients: curl with
# URL ranges, so each curl is one keep-alive session of many requests, plus one-request
# sessions. intercept forwards reply payload over TLS (PSK from --secret-file).
#
# compare_run MODE_ARGS...: the scenario with tcpcopy's capture options (none: raw sockets;
# --pcap-capture). Asserts: every request compared (summary.json's compared = requests served
# online), exactly CHANGED and GONE reported in mismatches.jsonl with their kinds, no
# not_compared, the same totals in tcpcopy's counters. With COMPARE_LOSS=N (per mille, nft
# on the copy and the reply path; the caller sources impair.sh): every request has a result,
# at most 5% not compared, and no difference but the known ones.

NFILES=120           # files /f/1 .. /f/NFILES
SESSIONS=4           # keep-alive sessions, each asking for every file
SINGLES=30           # one-request sessions
CHANGED=(7 42 99)    # content differs on the target (same length)
GONE=(55)            # missing on the target

# start_nginx_conf NS PORT NAME SERVER: lib.sh's nginx_run with SERVER as its server block,
# plain text answers and keep-alive without a request limit; NGINX_LOG is its access log
# (field 4: the URI).
start_nginx_conf() {
    nginx_run "$1" "$2" "$3" "keepalive_requests 1000000;
    default_type text/plain;
    $4"
}

# start_nginx_files NS PORT NAME ROOT: nginx serving ROOT as plain static files.
# NGINX_EXTRA: more directives for its server block (test_compare_baseline.sh).
start_nginx_files() {
    start_nginx_conf "$1" "$2" "$3" "server { listen $2; listen [::]:$2; root $4; ${NGINX_EXTRA:-} }"
}

# The two trees: file i holds a line naming it, padded to a length that varies with i.
make_trees() {
    local i
    mkdir -p "$LAB_DIR/www-online/f" "$LAB_DIR/www-target/f"
    for ((i = 1; i <= NFILES; i++)); do
        { printf 'file %d\n' "$i"; head -c $((100 + i * 37)) /dev/zero | tr '\0' 'p'; printf '\n'; } \
            >"$LAB_DIR/www-online/f/$i"
        cp "$LAB_DIR/www-online/f/$i" "$LAB_DIR/www-target/f/$i"
    done
    for i in "${CHANGED[@]}"; do
        printf 'FILE %d\n' "$i" | dd of="$LAB_DIR/www-target/f/$i" conv=notrunc status=none
    done
    for i in "${GONE[@]}"; do rm -f "$LAB_DIR/www-target/f/$i"; done
    # A 20 MB answer, the same on both sides but for one byte near its end: kind body.
    head -c $((20 << 20)) /dev/urandom >"$LAB_DIR/www-online/big"
    cp "$LAB_DIR/www-online/big" "$LAB_DIR/www-target/big"
    printf 'Z' | dd of="$LAB_DIR/www-target/big" bs=1 seek=$(((20 << 20) - 1000)) conv=notrunc status=none
    touch -d '2026-01-01 00:00:00 UTC' "$LAB_DIR"/www-online/f/* "$LAB_DIR"/www-target/f/*
}

# cmp_results: results so far, as tcpcopy counts them now.
cmp_results() {
    tc_stat_now compare.requests >/dev/null
    stat_sum "$(stats_file "$TCPCOPY_LOG")" compare.equal compare.different compare.not_compared
}

# summary KEY: a number in DIR/summary.json (dotted path).
summary() { stat_get "$CMP_DIR/summary.json" "$1"; }

compare_run() {
    local mode=("$@") i want_diff want_req
    lab_up
    if [ -n "${COMPARE_LOSS:-}" ]; then # per mille, on the copy path and the reply path
        nft_loss_copy "$COMPARE_LOSS"
        nft_loss_reply "$COMPARE_LOSS"
    fi
    make_trees
    start_nginx_files "$NS_ONL" 80 online "$LAB_DIR/www-online"
    ON_LOG=$NGINX_LOG
    start_nginx_files "$NS_TGT" 8080 target "$LAB_DIR/www-target"
    TG_LOG=$NGINX_LOG
    SECRET="$LAB_DIR/secret"
    (umask 077 && head -c 24 /dev/urandom | base64 >"$SECRET")
    start_intercept -i eth0 -F 'tcp and src port 8080' --payload --secret-file "$SECRET"
    CMP_DIR="$LAB_DIR/compare"
    # COMPARE_V6=1: the same over IPv6 (the packet socket's IPv6 path for requests and answers).
    local host=$IP_ONL rule=(-x 80-192.0.2.20:8080 -c 203.0.113.x)
    if [ -n "${COMPARE_V6:-}" ]; then
        host="[2001:db8:1::10]"
        rule=(-x "[2001:db8:1::10]:80-[2001:db8:1::20]:8080" -c 2001:db8:3::x)
    fi
    start_tcpcopy "${rule[@]}" -s 192.0.2.30 --secret-file "$SECRET" --compare "$CMP_DIR" "${mode[@]}"
    [ -e "$CMP_DIR/summary.json" ] || fail "no $CMP_DIR/summary.json at startup"
    [ -z "${COMPARE_V6:-}" ] ||
        grep -q 'capturing with a packet socket, requests and answers (--compare): IPv6$' \
            "$TCPCOPY_LOG" || fail "no IPv6 packet socket capture"

    log "$SESSIONS keep-alive sessions of $NFILES requests, $SINGLES one-request sessions ($host)"
    local urls=()
    for ((i = 1; i <= NFILES; i++)); do urls+=(-o /dev/null "http://$host/f/$i"); done
    for ((i = 0; i < SESSIONS; i++)); do # one curl, one connection: keep-alive
        on_cli timeout 60 curl -g -s -m 30 "${urls[@]}" || fail "curl session $i failed"
    done
    for ((i = 1; i <= SINGLES; i++)); do
        on_cli timeout 10 curl -g -s -m 5 -o /dev/null "http://$host/f/$(((i * 7) % NFILES + 1))" ||
            fail "curl $i failed"
    done
    on_cli timeout 60 curl -g -s -m 30 -o /dev/null "http://$host/big" || fail "curl /big failed"
    want_req=$((SESSIONS * NFILES + SINGLES + 1))
    assert_eq "$(lines "$ON_LOG")" "$want_req" "requests served online"
    settle "lines $TG_LOG" 30 "$want_req" >/dev/null
    report "$ON_LOG" "$TG_LOG"
    # A result comes when both answers are in: wait for the target's last ones, then stop.
    settle "cmp_results" 30 "$want_req" >/dev/null
    stop_tc || fail "tcpcopy or intercept did not stop cleanly"

    local singles_diff=0 u
    for ((i = 1; i <= SINGLES; i++)); do
        u=$(((i * 7) % NFILES + 1))
        for d in "${CHANGED[@]}" "${GONE[@]}"; do [ "$u" = "$d" ] && singles_diff=$((singles_diff + 1)); done
    done
    want_diff=$((SESSIONS * (${#CHANGED[@]} + ${#GONE[@]}) + singles_diff + 1))
    log "summary.json: $(tr -d '\n' <"$CMP_DIR/summary.json" | cut -c1-300)"
    if [ -n "${COMPARE_LOSS:-}" ]; then
        # Loss may leave an answer incomplete (not compared, with its reason), never different.
        local nc
        nc=$(summary not_compared)
        assert_eq "$(($(summary compared) + nc))" "$want_req" "requests with a result"
        assert_ge "$((want_req / 20))" "$nc" "at most 5% not compared"
        assert_ge "$want_diff" "$(summary different)" "differences, at most the known ones"
    else
        assert_eq "$(summary not_compared)" 0 "requests not compared"
        assert_eq "$(summary compared)" "$want_req" "requests compared (summary.json)"
        assert_eq "$(summary different)" "$want_diff" "requests reported different"
        assert_eq "$(summary equal)" "$((want_req - want_diff))" "requests equal"
        assert_eq "$(summary different_by_kind.body)" "$((want_diff - SESSIONS * ${#GONE[@]}))" \
            "differences of kind body (the 20 MB answer's included)"
    fi
    assert_eq "$(lines "$CMP_DIR/mismatches.jsonl")" "$(summary different)" "lines in mismatches.jsonl"
    # Exactly the known URLs, with their kinds (under loss: no other URL, no other kind).
    "$LAB_PY" - "$CMP_DIR/mismatches.jsonl" "${CHANGED[*]}" "${GONE[*]}" "${COMPARE_LOSS:-}" <<'PY' || fail "mismatches.jsonl is not what was expected"
import json, sys
changed = set("/f/" + x for x in sys.argv[2].split())
gone = set("/f/" + x for x in sys.argv[3].split())
seen = set()
lat = {"online_ms": [], "target_ms": []}
for line in open(sys.argv[1]):
    r = json.loads(line)
    ep = r["endpoint"]
    assert ep.startswith("GET "), r
    path = ep[4:]
    if path == "/big":
        # a difference deep in a 20 MB answer is located to its block (doc/compare.md)
        assert r["kind"] == "body" and r["offset"] <= 20 * 2**20 - 1000, r
        continue
    want = "body" if path in changed else "status" if path in gone else None
    if want is None or r["kind"] != want:
        sys.exit("unexpected: %s kind %s" % (path, r["kind"]))
    assert r["request"].startswith("GET " + path + " HTTP/1.1"), r
    seen.add(path)
    for k in lat:
        if r[k] is not None:
            lat[k].append(r[k])
missing = (changed | gone) - seen
if missing and not sys.argv[4]:
    sys.exit("not reported: %s" % sorted(missing))
print("mismatches.jsonl: %d URLs, kinds as expected" % len(seen))
for k, v in lat.items():
    assert all(x > 0 for x in v), (k, v)
    v.sort()
    print("  %s: %d known, median %s, max %s" % (k, len(v), v[len(v) // 2] if v else None, v[-1] if v else None))
# Online: both ends stamped by the kernel on this host, whichever socket is read first.
if len(lat["online_ms"]) * 10 < 9 * sum(1 for _ in open(sys.argv[1])) and not sys.argv[4]:
    sys.exit("online latency unknown for more than 10% of the differing requests")
PY
    grep -q 'GET /f/42' "$CMP_DIR/report.html" || fail "report.html does not name GET /f/42"
    assert_eq "$(tc_stat compare.different)" "$want_diff" "tcpcopy's compare.different counter"
    assert_eq "$(tc_stat compare.equal)" "$((want_req - want_diff))" "tcpcopy's compare.equal counter"
    assert_eq "$(tc_stat compare.online_gaps)" 0 "gaps in the online answers"
    assert_eq "$(tc_stat compare.target_gaps)" 0 "gaps in the target's answers"
    [ -z "${COMPARE_LOSS:-}" ] || nft_report
    pass "$want_req requests, $(summary compared) compared, $(summary different) of the $want_diff known differences reported, none other"
}

# ---- redis -------------------------------------------------------------------------------
# compare_redis_run: Debian's redis-server online (6379) and on the target (6379), loaded
# with the same keys but RKEYS_CHANGED, whose values differ on the target. redis-cli reads
# every key in each of RSESSIONS sessions; redis-benchmark adds RBENCH GETs of a key neither
# holds, over 4 connections. Asserts: every request compared, exactly the GETs of the changed
# keys reported, nothing else but redis-cli's COMMAND DOCS at its start (the reply lists
# commands in each process's own hash order: a real difference, reported as such). The
# benchmark's connections each stay below the 256 requests a session may run ahead of the
# target (CMP_PAIR_SLOTS): a faster client gets over_limit, counted, not compared.
RKEYS=200
RSESSIONS=2
RBENCH=800
RKEYS_CHANGED=(13 77 150)

start_redis() {
    local ns=$1 name=$2 dir pid
    dir="$LAB_DIR/redis-$name"
    mkdir -p "$dir"
    ip netns exec "$ns" /usr/bin/redis-server --port 6379 --bind 0.0.0.0 --protected-mode no \
        --save '' --appendonly no --dir "$dir" --logfile "$dir/redis.log" --daemonize no \
        >"$dir/stdout.log" 2>&1 &
    pid=$!
    lab_track "$pid"
    wait_until "listening $ns 6379" 10 || fail "redis $name did not listen in $ns"
}

# redis_load NS IP CHANGED: SET k1..kRKEYS (v<i>, or w<i> for the changed ones when CHANGED=1).
redis_load() {
    local ns=$1 ip=$2 changed=$3 i v
    for ((i = 1; i <= RKEYS; i++)); do
        v="v$i"
        if [ "$changed" = 1 ]; then
            for c in "${RKEYS_CHANGED[@]}"; do [ "$i" = "$c" ] && v="w$i"; done
        fi
        echo "SET k$i $v"
    done | ip netns exec "$ns" redis-cli -h "$ip" -p 6379 >/dev/null
}

compare_redis_run() {
    local i want_diff
    lab_up
    start_redis "$NS_ONL" online
    start_redis "$NS_TGT" target
    redis_load "$NS_ONL" "$IP_ONL" 0
    redis_load "$NS_TGT" "$IP_TGT" 1
    SECRET="$LAB_DIR/secret"
    (umask 077 && head -c 24 /dev/urandom | base64 >"$SECRET")
    start_intercept -i eth0 -F 'tcp and src port 6379' --payload --secret-file "$SECRET"
    CMP_DIR="$LAB_DIR/compare"
    start_tcpcopy -x 6379-192.0.2.20:6379 -s 192.0.2.30 -c 203.0.113.x --secret-file "$SECRET" \
        --compare "$CMP_DIR"
    for ((i = 0; i < RSESSIONS; i++)); do
        for ((k = 1; k <= RKEYS; k++)); do echo "GET k$k"; done |
            on_cli timeout 60 redis-cli -h "$IP_ONL" -p 6379 >"$LAB_DIR/cli-$i.out" ||
            fail "redis-cli session $i failed"
        assert_eq "$(grep -c . "$LAB_DIR/cli-$i.out")" "$RKEYS" "answers to redis-cli session $i"
    done
    on_cli timeout 120 redis-benchmark -h "$IP_ONL" -p 6379 -c 4 -n "$RBENCH" -t get -q \
        >"$LAB_DIR/bench.out" 2>&1 || fail "redis-benchmark failed: $(tail -n 3 "$LAB_DIR/bench.out")"
    log "redis-benchmark: $(tr '\r' '\n' <"$LAB_DIR/bench.out" | grep -E 'GET' | tail -n 1)"
    # Every request of the copied sessions has its result once the target answered it.
    settle "cmp_results" 60 "$((RSESSIONS * RKEYS + RBENCH))" >/dev/null
    settle_stable "cmp_results" 20 >/dev/null
    stop_tc || fail "tcpcopy or intercept did not stop cleanly"
    want_diff=$((RSESSIONS * ${#RKEYS_CHANGED[@]}))
    log "summary.json: $(tr -d '\n' <"$CMP_DIR/summary.json" | cut -c1-300)"
    # Every request compared: requests and answers through one socket, in the kernel's order.
    assert_eq "$(summary not_compared)" 0 "requests not compared"
    assert_eq "$(summary compared)" "$(tc_stat compare.requests)" "requests compared (all that were framed)"
    assert_ge "$(summary compared)" "$((RSESSIONS * RKEYS + RBENCH))" "requests compared"
    "$LAB_PY" - "$CMP_DIR/mismatches.jsonl" "${RKEYS_CHANGED[*]}" "$want_diff" <<'PY' || fail "mismatches.jsonl is not what was expected"
import json, sys
want = set("k" + x for x in sys.argv[2].split())
seen, gets = set(), 0
for line in open(sys.argv[1]):
    r = json.loads(line)
    if r["endpoint"] == "COMMAND":
        continue
    key = r["request"].split(" ")[-1]
    if r["endpoint"] != "GET" or key not in want or r["kind"] != "body":
        sys.exit("unexpected: %r" % r)
    seen.add(key)
    gets += 1
if seen != want or gets != int(sys.argv[3]):
    sys.exit("GETs reported: %d of %s, expected %s for %s" % (gets, sorted(seen), sys.argv[3], sorted(want)))
print("mismatches.jsonl: %d GETs of %s, kind body" % (gets, " ".join(sorted(seen))))
PY
    pass "$(summary compared) redis requests compared, exactly the $want_diff known differences reported"
}

# ---- offline -----------------------------------------------------------------------------
# compare_offline_run: the nginx trees above; the client's sessions are recorded with
# tcpdump on the online host, both directions ('tcp port 80'), with no tcpcopy running;
# tcpcopy then replays the file with --compare to the target. Asserts as compare_run: every
# recorded request compared, exactly the known differences reported.
compare_offline_run() {
    local i want_req want_diff cap td
    lab_up
    make_trees
    start_nginx_files "$NS_ONL" 80 online "$LAB_DIR/www-online"
    ON_LOG=$NGINX_LOG
    start_nginx_files "$NS_TGT" 8080 target "$LAB_DIR/www-target"
    TG_LOG=$NGINX_LOG
    cap="$LAB_DIR/both.pcap"
    ip netns exec "$NS_ONL" tcpdump -Z root -B 32768 -i eth0 -U -s 0 -w "$cap" 'tcp port 80' \
        >"$LAB_DIR/tcpdump.log" 2>&1 &
    td=$!
    lab_track "$td"
    wait_until "grep -q listening $LAB_DIR/tcpdump.log" 10 || fail "tcpdump did not start"
    for ((i = 0; i < SESSIONS; i++)); do
        on_cli timeout 60 curl -s -m 30 -o /dev/null "http://$IP_ONL/f/[1-$NFILES]" ||
            fail "curl session $i failed"
    done
    want_req=$((SESSIONS * NFILES))
    assert_eq "$(lines "$ON_LOG")" "$want_req" "requests served online while recording"
    sleep 2
    kill -INT "$td" 2>/dev/null || true
    wait "$td" 2>/dev/null || true
    grep -qE '^0 packets dropped by kernel' "$LAB_DIR/tcpdump.log" ||
        fail "the recording is incomplete: $(tr '\n' ' ' <"$LAB_DIR/tcpdump.log")"
    SECRET="$LAB_DIR/secret"
    (umask 077 && head -c 24 /dev/urandom | base64 >"$SECRET")
    start_intercept -i eth0 -F 'tcp and src port 8080' --payload --secret-file "$SECRET"
    CMP_DIR="$LAB_DIR/compare"
    TCPCOPY_LOG="$LAB_DIR/tcpcopy.log"
    log "tcpcopy -i $cap --compare $CMP_DIR (offline, both directions in the file)"
    ip netns exec "$NS_ONL" timeout 120 "$TC_BIN/tcpcopy" -x 80-192.0.2.20:8080 -s 192.0.2.30 \
        -c 203.0.113.x --secret-file "$SECRET" -i "$cap" --compare "$CMP_DIR" \
        --stats-json "$(stats_file "$TCPCOPY_LOG")" >"$TCPCOPY_LOG" 2>&1 ||
        { tail -n 20 "$TCPCOPY_LOG" >&2; fail "tcpcopy's offline replay failed"; }
    TCPCOPY_PID=""
    stop_tc || fail "intercept did not stop cleanly"
    grep -qE 'Sanitizer|runtime error:' "$TCPCOPY_LOG" && fail "tcpcopy: sanitizer report"
    want_diff=$((SESSIONS * (${#CHANGED[@]} + ${#GONE[@]})))
    log "summary.json: $(tr -d '\n' <"$CMP_DIR/summary.json" | cut -c1-300)"
    assert_eq "$(lines "$TG_LOG")" "$want_req" "requests replayed to the target"
    assert_eq "$(summary not_compared)" 0 "requests not compared"
    assert_eq "$(summary compared)" "$want_req" "requests compared (summary.json)"
    assert_eq "$(summary different)" "$want_diff" "requests reported different"
    assert_eq "$(summary different_by_kind.status)" "$((SESSIONS * ${#GONE[@]}))" \
        "differences of kind status"
    assert_eq "$(tc_stat compare.online_gaps)" 0 "gaps in the online answers"
    pass "offline: $want_req recorded requests compared, exactly the $want_diff known differences reported"
}
