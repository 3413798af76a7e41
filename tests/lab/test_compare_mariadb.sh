#!/usr/bin/env bash
# tcpcopy --compare --compare-proto mysql with Debian's MariaDB on online and on target (the
# mysql module logs the copied sessions in on the target): the same table on both, but for a
# few rows whose value differs on the target. Debian's mariadb client runs SESSIONS sessions of
# point SELECTs over every row, a range SELECT over one changed row, a COUNT and an UPDATE.
# Then sysbench oltp_read_only (prepared statements) over a table alike on both sides.
# Asserts: every statement compared (COM_QUIT, COM_STMT_CLOSE, answered by nothing, are
# "noreply"), nothing of sysbench's reported, exactly the SELECTs that read a
# changed row reported (kind body, endpoint "SELECT t"), the logins and greetings equal.
# COMPARE_PROTO=auto runs the same with auto detection from the client's login.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/db_lib.sh"

ROWS=100 SESSIONS=3 CHANGED=(13 77)
command -v mariadbd >/dev/null && command -v sysbench >/dev/null ||
    fail "mariadb-server and sysbench are needed (scripts/deps.sh)"
lab_up
chmod 755 "$LAB_DIR"

# start_mariadb NS NAME: a server on 0.0.0.0:3306 in NS with table sbtest.t (ROWS rows; the
# CHANGED ones hold another value on the target).
start_mariadb() {
    local d=$LAB_DIR/$2 i v
    mariadb_start "$1" "$2"
    {
        echo "CREATE TABLE sbtest.t (id INT PRIMARY KEY, v VARCHAR(32), n INT);"
        for ((i = 1; i <= ROWS; i++)); do
            v="value $i"
            if [ "$2" = target ]; then
                for c in "${CHANGED[@]}"; do [ "$i" = "$c" ] && v="VALUE $i"; done
            fi
            echo "INSERT INTO sbtest.t VALUES ($i, '$v', 0);"
        done
    } | mariadb --no-defaults -S "$d/sock" -uroot || fail "loading $2"
    # sysbench's table, the same rows on both (a fixed seed)
    sysbench oltp_read_only --db-driver=mysql --mysql-socket="$d/sock" --mysql-user=sbtest \
        --mysql-password=sbpass --mysql-db=sbtest --tables=1 --table-size=1000 --rand-seed=1 \
        prepare >"$d/prepare.log" 2>&1 || fail "sysbench prepare on $2: $(tail -3 "$d/prepare.log")"
    : >"$d/general.log"
}

start_mariadb "$NS_ONL" online
start_mariadb "$NS_TGT" target
db_secrets 'sbtest sbpass\n'
start_intercept -i eth0 -F 'tcp and src port 3306' --payload --secret-file "$SECRET"
CMP_DIR=$LAB_DIR/compare
start_tcpcopy -x 3306-192.0.2.20:3306 -s 192.0.2.30 -c 203.0.113.x --channel-payload \
    --secret-file "$SECRET" --module mysql --module-conf "$CONF" \
    --compare "$CMP_DIR" --compare-proto "${COMPARE_PROTO:-mysql}"

script() {
    local i
    for ((i = 1; i <= ROWS; i++)); do echo "SELECT v FROM t WHERE id=$i;"; done
    echo "SELECT id, v FROM t WHERE id BETWEEN 10 AND 15;"
    echo "SELECT COUNT(*) FROM t;"
    echo "UPDATE t SET n = n + 1 WHERE id = 5;"
}
for ((s = 0; s < SESSIONS; s++)); do
    script | on_cli timeout 60 mariadb --no-defaults -h "$IP_ONL" -usbtest -psbpass sbtest \
        >"$LAB_DIR/cli-$s.out" || fail "mariadb session $s failed"
    assert_eq "$(grep -c 'value' "$LAB_DIR/cli-$s.out")" "$((ROWS + 6))" "rows read in session $s"
done
# sysbench oltp_read_only (prepared statements) on the same rows: nothing differs. Each
# connection stays well below the 256 requests a session may run ahead of the target
# (CMP_PAIR_SLOTS; a faster client gets over_limit, counted, not compared): 16 events of 16
# statements over 4 connections.
on_cli sysbench oltp_read_only --db-driver=mysql --mysql-host="$IP_ONL" --mysql-user=sbtest \
    --mysql-password=sbpass --mysql-db=sbtest --tables=1 --table-size=1000 --threads=4 \
    --events=16 --time=0 run >"$LAB_DIR/sysbench.log" 2>&1 ||
    fail "sysbench: $(tail -5 "$LAB_DIR/sysbench.log")"
SB_Q=$(awk '/total:/ { print $2; exit }' "$LAB_DIR/sysbench.log")
log "sysbench: $SB_Q statements"
# per session: the greeting, the login, ROWS + 3 statements compared (COM_QUIT is not);
# sysbench: its statements, their PREPAREs, its logins
cmp_results() {
    tc_stat_now compare.requests >/dev/null
    stat_sum "$(stats_file "$TCPCOPY_LOG")" compare.equal compare.different compare.not_compared
}
want_min=$((SESSIONS * (ROWS + 5) + SB_Q))
settle "cmp_results" 60 "$want_min" >/dev/null
settle_stable "cmp_results" 10 >/dev/null
stop_tc || fail "tcpcopy or intercept did not stop cleanly"
summary() { stat_get "$CMP_DIR/summary.json" "$1"; }
log "summary.json: $(tr -d '\n' <"$CMP_DIR/summary.json" | cut -c1-400)"
# COM_QUIT and COM_STMT_CLOSE have no answer: not compared, reason noreply; nothing else is
# left out
noreply=$("$LAB_PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["not_compared_by_reason"]["noreply"])' "$CMP_DIR/summary.json")
assert_eq "$(summary not_compared)" "$noreply" "requests not compared, all of them noreply"
assert_ge "$noreply" "$((SESSIONS + 2))" "requests not compared for noreply (COM_QUIT, COM_STMT_CLOSE)"
assert_eq "$(($(summary compared) + noreply))" "$(tc_stat compare.requests)" "requests compared or noreply (all that were framed)"
assert_ge "$(summary compared)" "$want_min" "statements compared"
want_diff=$((SESSIONS * (${#CHANGED[@]} + 1)))
assert_eq "$(summary different)" "$want_diff" "statements reported different"
"$LAB_PY" - "$CMP_DIR/mismatches.jsonl" "${CHANGED[*]}" "$SESSIONS" <<'PY' || fail "mismatches.jsonl is not what was expected"
import json, sys, collections
want = set(sys.argv[2].split())
seen = collections.Counter()
for line in open(sys.argv[1]):
    r = json.loads(line)
    if r["endpoint"] != "SELECT t" or r["kind"] != "body":
        sys.exit("unexpected: %r" % r)
    q = r["request"]
    if "BETWEEN 10 AND 15" in q:
        seen["range"] += 1
        continue
    row = q.rstrip(";").split("=")[-1]
    if row not in want:
        sys.exit("unexpected row: %r" % r)
    seen[row] += 1
n = int(sys.argv[3])
if seen != collections.Counter({**{w: n for w in want}, "range": n}):
    sys.exit("reported: %r" % seen)
print("mismatches.jsonl: %r" % dict(seen))
PY
pass "$(summary compared) MySQL statements compared, exactly the $want_diff reading changed rows reported"
