#!/usr/bin/env bash
# tcpcopy --compare's latencies: cmp_server.py online and on the target, answering alike, but
# the target's copy sleeps DELAY_MS (80) before answering /slow. SESSIONS keep-alive curl
# sessions ask /slow?i=1..N then /fast?i=1..N (endpoints "GET /slow" and "GET /fast"); the
# load is bounded by count. Asserts from summary.json: every request compared and equal, the
# target's p50 for /slow is DELAY_MS within 10%, production's p50 for /slow is small (its
# latency measured right, not the target's), /fast is not slowed on either side.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/compare_lib.sh"
. "$(dirname "$0")/compare_more_lib.sh"

DELAY_MS=${DELAY_MS:-80}
SESSIONS=4
N=40
lab_up
start_cmp_server "$NS_ONL" 80 online
ON_LOG=$SRV_LOG
start_cmp_server "$NS_TGT" 8080 target --slow-ms "$DELAY_MS"
TG_LOG=$SRV_LOG
cmp_start_copy 8080

log "$SESSIONS keep-alive sessions of $N /slow and $N /fast requests"
for ((s = 0; s < SESSIONS; s++)); do
    on_cli timeout 60 curl -s -m 30 "http://$IP_ONL/slow?i=[1-$N]" -o /dev/null \
        "http://$IP_ONL/fast?i=[1-$N]" -o /dev/null || fail "curl session $s failed"
done
want=$((SESSIONS * N * 2))
assert_eq "$(lines "$ON_LOG")" "$want" "requests served online"
settle "lines $TG_LOG" 60 "$want" >/dev/null
report "$ON_LOG" "$TG_LOG"
cmp_finish "$want"

assert_eq "$(summary not_compared)" 0 "requests not compared"
assert_eq "$(summary compared)" "$want" "requests compared"
assert_eq "$(summary equal)" "$want" "requests equal (only the time differs)"
p50=$("$LAB_PY" - "$CMP_DIR/summary.json" "$DELAY_MS" "$((SESSIONS * N))" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
delay, n = float(sys.argv[2]), int(sys.argv[3])
ep = {e["endpoint"]: e for e in s["endpoints"]}
for name in ("GET /slow", "GET /fast"):
    e = ep[name]
    print("%s: %d requests, online p50 %.3f p90 %.3f p99 %.3f ms, target p50 %.3f p90 %.3f p99 %.3f ms, ratio_p50 %s" % (
        name, e["requests"], e["online_ms"]["p50"], e["online_ms"]["p90"], e["online_ms"]["p99"],
        e["target_ms"]["p50"], e["target_ms"]["p90"], e["target_ms"]["p99"], e["ratio_p50"]),
        file=sys.stderr)
    assert e["requests"] == n and e["equal"] == n, e
    assert e["online_ms"]["count"] == n and e["target_ms"]["count"] == n, ("latency unknown", e)
slow, fast = ep["GET /slow"], ep["GET /fast"]
t = slow["target_ms"]["p50"]
assert abs(t - delay) <= delay * 0.10, "target p50 of /slow %.3f ms is not %g ms within 10%%" % (t, delay)
# production answered at once: its latency is its own, not the target's
assert slow["online_ms"]["p50"] < delay / 4, ("online p50 of /slow", slow["online_ms"])
assert fast["online_ms"]["p50"] < delay / 4, ("online p50 of /fast", fast["online_ms"])
assert fast["target_ms"]["p50"] < delay / 4, ("target p50 of /fast", fast["target_ms"])
assert slow["ratio_p50"] > 4, ("ratio_p50 of /slow", slow["ratio_p50"])
print("target p50 %.3f ms, online p50 %.3f ms" % (t, slow["online_ms"]["p50"]))
PY
) || fail "latencies in summary.json are not what was expected"
pass "$want requests compared, all equal; /slow with a $DELAY_MS ms delay on the target: $p50"
