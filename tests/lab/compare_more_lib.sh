# shellcheck shell=bash
# shellcheck disable=SC2034
# compare_more_lib.sh: helpers of the comparison's scenarios at scale (issue 20, "Tests"),
# sourced after lib.sh and compare_lib.sh by test_compare_wrk.sh, test_compare_latency.sh and
# test_compare_chunked_short.sh. Servers: nginx answering from `return` rules (every URL its
# own body, a known pattern answered otherwise on the target) and cmp_server.py (the lab's own
# HTTP/1.1 server: a fixed delay on /slow, chunked answers, one byte changed inside a chunk).

# start_nginx_return NS PORT NAME [RULES]: nginx answering every URI with a body naming it,
# plus RULES (nginx `location` blocks, matched before the default one). NGINX_LOG is its
# access log (field 4: the URI).
start_nginx_return() {
    start_nginx_conf "$1" "$2" "$3" "server { listen $2; ${4:-}
        location / { return 200 \"the answer for \$uri\n\"; } }"
}

# start_cmp_server NS PORT NAME [ARGS...]: cmp_server.py in NS; SRV_LOG is its request log
# (field 4: the URI, as nginx's).
start_cmp_server() {
    local ns=$1 port=$2 name=$3 pid
    shift 3
    SRV_LOG="$LAB_DIR/srv-$name.log"
    : >"$SRV_LOG"
    ip netns exec "$ns" "$LAB_PY" "$LAB_LIB_DIR/cmp_server.py" --port "$port" --log "$SRV_LOG" "$@" \
        >"$LAB_DIR/srv-$name.out" 2>&1 &
    pid=$!
    lab_track "$pid"
    wait_until "listening $ns $port" 10 || fail "cmp_server $name did not listen on $port in $ns"
}

# cmp_start_copy PORT [TCPCOPY_ARGS...]: intercept forwarding the target's answers from
# PORT (TLS, PSK from a fresh secret) and tcpcopy copying port 80 to the target's PORT with
# --compare $CMP_DIR.
cmp_start_copy() {
    local port=$1
    shift
    SECRET="$LAB_DIR/secret"
    (umask 077 && head -c 24 /dev/urandom | base64 >"$SECRET")
    start_intercept -i eth0 -F "tcp and src port $port" --payload --secret-file "$SECRET"
    CMP_DIR="$LAB_DIR/compare"
    start_tcpcopy -x "80-$IP_TGT:$port" -s "$IP_AST" -c 203.0.113.x --secret-file "$SECRET" \
        --compare "$CMP_DIR" "$@"
    [ -e "$CMP_DIR/summary.json" ] || fail "no $CMP_DIR/summary.json at startup"
}

# cmp_finish WANT: wait until tcpcopy has a result for WANT requests (when the target's last
# answers are in), then until the count no longer moves, and stop tcpcopy and intercept.
cmp_finish() {
    settle "cmp_results" 120 "$1" >/dev/null
    settle_stable "cmp_results" 20 3 >/dev/null
    stop_tc || fail "tcpcopy or intercept did not stop cleanly"
    log "summary.json: $(tr -d '\n' <"$CMP_DIR/summary.json" | cut -c1-400)"
}

# cmp_expect_mismatches FILE KIND REGEX [KIND REGEX...]: mismatches.jsonl holds exactly one
# line per request of FILE (a list of "endpoint" strings, one per line: the known differing
# requests) with the KIND given for the first REGEX its path matches, and nothing else. With
# CMP_SUBSET=1, a known request may be missing (it was not compared), nothing else.
cmp_expect_mismatches() {
    local want=$1
    shift
    "$LAB_PY" - "$CMP_DIR/mismatches.jsonl" "$want" "${CMP_SUBSET:-0}" "$@" <<'PY' || fail "mismatches.jsonl is not what was expected"
import collections, json, re, sys
subset = sys.argv[3] == "1"
rules = [(sys.argv[i], re.compile(sys.argv[i + 1])) for i in range(4, len(sys.argv), 2)]
want = collections.Counter(l.strip() for l in open(sys.argv[2]) if l.strip())
got = collections.Counter()
for line in open(sys.argv[1]):
    r = json.loads(line)
    path = r["request"].split(" ")[1]
    kind = next((k for k, rx in rules if rx.search(path)), None)
    if kind is None or r["kind"] != kind:
        sys.exit("unexpected difference: %s kind %s (expected %s)" % (path, r["kind"], kind))
    got[path] += 1
if got - want or (want - got and not subset):
    extra, missing = got - want, want - got
    sys.exit("reported %d, expected %d; not expected: %s; not reported: %s" % (
        sum(got.values()), sum(want.values()), sorted(extra)[:10], sorted(missing)[:10]))
print("mismatches.jsonl: exactly the %d known differing requests, kinds as expected" % sum(got.values()))
PY
}
