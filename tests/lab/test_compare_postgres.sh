#!/usr/bin/env bash
# tcpcopy --compare --compare-proto postgresql with Debian's PostgreSQL 15 on online and on
# target (scram-sha-256; the postgresql module logs the copied sessions in on the target):
# the same table on both, but for a few rows whose value differs on the target. Clients: psql
# sessions of point SELECTs over every row, a range SELECT and an UPDATE (simple protocol),
# and pgbench -M prepared running a fixed script (extended protocol: Parse/Bind/Execute/Sync).
# Asserts: every statement compared (Terminate, answered by nothing, is "noreply"), exactly
# the SELECTs reading a changed row reported (kind body), the logins and SSLRequests equal.
# COMPARE_PROTO=auto runs the same with auto detection from the client's first message.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/db_lib.sh"

ROWS=60 SESSIONS=2 TX=5 CHANGED=(13 42)
pg_need
lab_up
chmod 755 "$LAB_DIR"

# pg_start NS NAME: a cluster on 0.0.0.0:5432 in NS with table app.t (ROWS rows; the CHANGED
# ones hold another value on the target).
pg_start() {
    local d=$LAB_DIR/$2 i v
    pg_cluster_start "$1" "$2"
    {
        echo "CREATE TABLE t (id INT PRIMARY KEY, v TEXT, n INT);"
        for ((i = 1; i <= ROWS; i++)); do
            v="value $i"
            if [ "$2" = target ]; then
                for c in "${CHANGED[@]}"; do [ "$i" = "$c" ] && v="VALUE $i"; done
            fi
            echo "INSERT INTO t VALUES ($i, '$v', 0);"
        done
    } | PGPASSWORD=pgpass psql -q -h "$d" -U pgu app || fail "loading $2"
}

pg_start "$NS_ONL" online
pg_start "$NS_TGT" target
SECRET=$LAB_DIR/secret
CONF=$LAB_DIR/db.conf
(umask 077 && head -c 24 /dev/urandom | base64 >"$SECRET" && printf 'pgu pgpass\n' >"$CONF")
start_intercept -i eth0 -F 'tcp and src port 5432' --payload --secret-file "$SECRET"
CMP_DIR=$LAB_DIR/compare
start_tcpcopy -x 5432-192.0.2.20:5432 -s 192.0.2.30 -c 203.0.113.x --channel-payload \
    --secret-file "$SECRET" --module postgresql --module-conf "$CONF" \
    --compare "$CMP_DIR" --compare-proto "${COMPARE_PROTO:-postgresql}"

script() {
    local i
    for ((i = 1; i <= ROWS; i++)); do echo "SELECT v FROM t WHERE id=$i;"; done
    echo "SELECT id, v FROM t WHERE id BETWEEN 10 AND 15;"
    echo "UPDATE t SET n = n + 1 WHERE id = 5;"
}
for ((s = 0; s < SESSIONS; s++)); do
    script | on_cli timeout 60 env PGPASSWORD=pgpass psql -At -h "$IP_ONL" -U pgu app \
        >"$LAB_DIR/cli-$s.out" || fail "psql session $s failed"
    assert_eq "$(grep -ci 'value' "$LAB_DIR/cli-$s.out")" "$((ROWS + 6))" "rows read in session $s"
done
printf 'SELECT v FROM t WHERE id = 13;\nSELECT v FROM t WHERE id = 5;\n' >"$LAB_DIR/bench.sql"
on_cli env PGPASSWORD=pgpass pgbench -h "$IP_ONL" -U pgu -c 1 -t "$TX" -M prepared -n \
    -f "$LAB_DIR/bench.sql" app >"$LAB_DIR/pgbench.log" 2>&1 ||
    fail "pgbench: $(tail -3 "$LAB_DIR/pgbench.log")"
cmp_results() {
    tc_stat_now compare.requests >/dev/null
    stat_sum "$(stats_file "$TCPCOPY_LOG")" compare.equal compare.different compare.not_compared
}
# compared: psql: (ssl), (login), ROWS + 2 statements; pgbench: 2 x ((ssl), (login)), its
# Parse groups, 2 x TX executions
want_min=$((SESSIONS * (ROWS + 4) + 2 * TX + 4))
settle "cmp_results" 60 "$want_min" >/dev/null
settle_stable "cmp_results" 10 >/dev/null
stop_tc || fail "tcpcopy or intercept did not stop cleanly"
summary() { stat_get "$CMP_DIR/summary.json" "$1"; }
log "summary.json: $(tr -d '\n' <"$CMP_DIR/summary.json" | cut -c1-400)"
"$LAB_PY" - "$CMP_DIR/summary.json" <<'PY' || true
import json, sys
for e in json.load(open(sys.argv[1]))["endpoints"]:
    print("  %-28s requests %4d equal %4d different %3d not compared %d" % (e["endpoint"], e["requests"], e["equal"], e["different"], e["not_compared"]))
PY
# pgbench connects twice (a first connection of its own, then its client)
nreq=$(tc_stat compare.requests) quits=$((SESSIONS + 2))
assert_eq "$(summary not_compared)" "$quits" "requests not compared (the Terminates)"
assert_eq "$(($(summary compared) + quits))" "$nreq" "requests compared or noreply (all that were framed)"
assert_ge "$(summary compared)" "$want_min" "statements compared"
want_diff=$((SESSIONS * (${#CHANGED[@]} + 1) + TX))
assert_eq "$(summary different)" "$want_diff" "statements reported different"
"$LAB_PY" - "$CMP_DIR/mismatches.jsonl" "${CHANGED[*]}" "$SESSIONS" "$TX" <<'PY' || fail "mismatches.jsonl is not what was expected"
import json, sys, collections
want = set(sys.argv[2].split())
seen = collections.Counter()
for line in open(sys.argv[1]):
    r = json.loads(line)
    if r["kind"] != "body":
        sys.exit("unexpected: %r" % r)
    q = r["request"].rstrip(";").replace(" ", "")
    if "BETWEEN10AND15" in q:
        seen["range"] += 1
    elif r["endpoint"] == "SELECT t" and q.split("=")[-1] in want:
        seen["psql " + q.split("=")[-1]] += 1
    elif "id=13" in q or r["endpoint"].startswith("EXECUTE"):
        seen["pgbench"] += 1
    else:
        sys.exit("unexpected: %r" % r)
n, tx = int(sys.argv[3]), int(sys.argv[4])
exp = collections.Counter({**{"psql " + w: n for w in want}, "range": n, "pgbench": tx})
if seen != exp:
    sys.exit("reported: %r, expected %r" % (seen, exp))
print("mismatches.jsonl: %r" % dict(seen))
PY
pass "$(summary compared) PostgreSQL statements compared, exactly the $want_diff reading changed rows reported"
