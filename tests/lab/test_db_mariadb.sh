#!/usr/bin/env bash
# The built-in `mysql` module with Debian's MariaDB on online and on target (same user and
# password, separate data directories, general query log on both). The channel carries the
# target's answers (intercept --payload over PSK TLS), so the module sees the target's greeting.
#  (a) sysbench oltp_read_write (prepared statements: sysbench's default), bounded by events,
#      through the online server with --module mysql: every sysbench connection logs in on the
#      target (no "Access denied"), the module rewrote that many logins, and the target
#      executes the prepared statements the online server executed (same count of Execute).
#  (b) sessions logged in before tcpcopy started (sysbench with plain queries, rate-limited
#      and bounded by events): the module logs each in on the target itself; >= 99% of the
#      statements the online server ran after tcpcopy started run on the target, none refused.
#  (c) the same load as (a) without --module: the target refuses the copied logins (the test
#      can fail).
#  (d) oltp_write_only, one thread, from the same rows on both: CHECKSUM TABLE equal after it
#      (and changed by it).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/db_lib.sh"

THREADS=4 EVENTS=${DB_EVENTS:-200}
command -v mariadbd >/dev/null && command -v sysbench >/dev/null ||
    fail "mariadb-server and sysbench are needed (scripts/deps.sh)"
lab_up
chmod 755 "$LAB_DIR"

# start_mariadb NS NAME: mariadb_start, then sysbench's tables (the same rows on both).
start_mariadb() {
    local d=$LAB_DIR/$2
    mariadb_start "$1" "$2"
    sysbench oltp_read_write --db-driver=mysql --mysql-socket="$d/sock" --mysql-user=sbtest \
        --mysql-password=sbpass --mysql-db=sbtest --tables=1 --table-size=1000 prepare \
        >"$d/prepare.log" 2>&1 || fail "sysbench prepare on $2: $(tail -3 "$d/prepare.log")"
    # The same rows on both servers (a fixed seed), for the write-only part.
    mariadb --no-defaults -S "$d/sock" -uroot -e "CREATE DATABASE wo; GRANT ALL ON wo.* TO 'sbtest'@'%';"
    sysbench oltp_write_only --db-driver=mysql --mysql-socket="$d/sock" --mysql-user=sbtest \
        --mysql-password=sbpass --mysql-db=wo --tables=1 --table-size=1000 --rand-seed=1 prepare \
        >>"$d/prepare.log" 2>&1 || fail "sysbench prepare wo on $2: $(tail -3 "$d/prepare.log")"
    : >"$d/general.log"
    mariadb --no-defaults -S "$d/sock" -uroot -e "FLUSH GENERAL LOGS"
}

start_mariadb "$NS_ONL" online
start_mariadb "$NS_TGT" target
ON=$LAB_DIR/online/general.log
TG=$LAB_DIR/target/general.log
db_secrets 'sbtest sbpass\n@database sbtest\n'
ICPT=(-i eth0 -F 'tcp and src port 3306' --payload --secret-file "$SECRET")
TC=(-x 3306-192.0.2.20:3306 -s 192.0.2.30 -c 203.0.113.x --channel-payload --secret-file "$SECRET")

# load NAME: sysbench through the online server, bounded by events.
load() {
    on_cli sysbench oltp_read_write --db-driver=mysql --mysql-host="$IP_ONL" --mysql-user=sbtest \
        --mysql-password=sbpass --mysql-db=sbtest --tables=1 --table-size=1000 \
        --threads="$THREADS" --events="$EVENTS" --time=0 run >"$LAB_DIR/sysbench-$1.log" 2>&1 ||
        fail "sysbench $1: $(tail -5 "$LAB_DIR/sysbench-$1.log")"
}

count() { grep -c "$2" "$1" 2>/dev/null || true; }

# ---- (a) with the module ------------------------------------------------------------------
start_intercept "${ICPT[@]}"
start_tcpcopy "${TC[@]}" --module mysql --module-conf "$CONF"
load module
on_exec=$(count "$ON" "Execute")
on_conn=$(count "$ON" "Connect.*sbtest@")
assert_ge "$on_exec" "$EVENTS" "(a) statements executed online"
settle "count $TG Execute" 90 "$on_exec" >/dev/null
tg_exec=$(count "$TG" "Execute")
tg_conn=$(count "$TG" "Connect.*sbtest@")
denied=$(count "$TG" "Access denied")
stop_tc || fail "(a) tcpcopy or intercept did not stop cleanly"
summary=$(grep -o 'mysql: logins rewritten.*' "$TCPCOPY_LOG" | tail -1 || true)
log "(a) online: $on_conn logins, $on_exec executes; target: $tg_conn logins, $tg_exec executes," \
    "$denied refused; $summary"
rewritten=$(tc_stat module.events.logins_rewritten)
mapped=$(tc_stat module.events.stmts_mapped)
assert_eq "$denied" 0 "(a) logins refused by the target"
assert_eq "$tg_conn" "$on_conn" "(a) logins on the target"
assert_eq "$rewritten" "$on_conn" "(a) logins the module rewrote (module.events.logins_rewritten)"
assert_ge "$mapped" 1 "(a) prepared statements mapped to the target's ids (module.events.stmts_mapped)"
assert_eq "$tg_exec" "$on_exec" "(a) prepared statements executed on the target"
want=$(grep -o 'Execute.*' "$ON" | sed 's/[0-9][0-9]*/N/g' | LC_ALL=C sort | uniq -c | md5sum)
got=$(grep -o 'Execute.*' "$TG" | sed 's/[0-9][0-9]*/N/g' | LC_ALL=C sort | uniq -c | md5sum)
assert_eq "$got" "$want" "(a) the statements executed, by kind"
# Per connection: each sysbench connection's statements, in order and with their values
# (general log, Execute and Query lines of the sbtest connections), the same on the target.
"$LAB_PY" - "$ON" "$TG" <<'PY' || fail "(a) the statements per connection differ between online and target"
import re, sys
line = re.compile(r"^(?:\d{6} +[\d:]{7,8})?\s+(\d+) (\w+)\t(.*)$")
def conns(path):
    user, stmts = {}, {}
    for l in open(path, errors="replace"):
        m = line.match(l.rstrip("\n"))
        if not m:
            continue
        tid, cmd, arg = m.groups()
        if cmd == "Connect":
            user[tid] = arg.startswith("sbtest@")
        elif cmd in ("Execute", "Query") and user.get(tid):
            stmts.setdefault(tid, []).append(cmd + " " + arg)
    return sorted(tuple(v) for v in stmts.values())
on, tg = conns(sys.argv[1]), conns(sys.argv[2])
print(f"connections online {len(on)}, target {len(tg)}; statements {sum(map(len, on))} / {sum(map(len, tg))}",
      file=sys.stderr)
sys.exit(0 if on == tg and on else 1)
PY
log "ok: (a) every connection's statements, in order and with their values, the same on the target"

# ---- (b) mid-stream: connections logged in before tcpcopy started --------------------------
: >"$ON"
: >"$TG"
start_intercept "${ICPT[@]}"
on_cli sysbench oltp_read_write --db-driver=mysql --mysql-host="$IP_ONL" --mysql-user=sbtest \
    --mysql-password=sbpass --mysql-db=sbtest --tables=1 --table-size=1000 --db-ps-mode=disable \
    --threads="$THREADS" --events=300 --rate=40 --time=0 run >"$LAB_DIR/sysbench-mid.log" 2>&1 &
SB=$!
lab_track "$SB"
wait_until "[ \$(count $ON 'Query') -ge 100 ]" 30 || fail "(b) sysbench did not start"
start_tcpcopy "${TC[@]}" --module mysql --module-conf "$CONF"
mark=$(wc -l <"$ON")
wait "$SB" || fail "(b) sysbench: $(tail -5 "$LAB_DIR/sysbench-mid.log")"
on_after=$(tail -n +"$((mark + 1))" "$ON" | grep -c 'Query' || true)
settle "count $TG Query" 90 "$on_after" >/dev/null
tg_q=$(count "$TG" "Query")
tg_conn=$(count "$TG" "Connect.*sbtest@.* on sbtest ")
denied=$(count "$TG" "Access denied")
stop_tc || fail "(b) tcpcopy or intercept did not stop cleanly"
summary=$(grep -o 'mysql: logins rewritten.*' "$TCPCOPY_LOG" | tail -1 || true)
log "(b) online: $on_after statements after tcpcopy started; target: $tg_conn logins, $tg_q" \
    "statements, $denied refused; $summary"
assert_eq "$denied" 0 "(b) logins refused by the target"
assert_eq "$tg_conn" "$THREADS" "(b) logins of the module's own on the target (database sbtest)"
assert_eq "$(tc_stat module.events.logins_resumed)" "$THREADS" "(b) sessions resumed (module.events.logins_resumed)"
assert_ge "$((tg_q * 100))" "$((on_after * 99))" "(b) statements on the target x 100 (>= 99% of online's)"
mid_q=$tg_q mid_on=$on_after

# ---- (c) without it: the copied answers to production's scramble are refused ---------------
: >"$ON"
: >"$TG"
start_intercept "${ICPT[@]}"
start_tcpcopy "${TC[@]}"
EVENTS=20 load plain
on_conn=$(count "$ON" "Connect.*sbtest@")
settle "count $TG 'Access denied'" 30 "$on_conn" >/dev/null
denied=$(count "$TG" "Access denied")
tg_exec_plain=$(count "$TG" "Execute")
stop_tc || fail "(c) tcpcopy or intercept did not stop cleanly"
log "(c) without --module: $on_conn logins online, $denied refused on the target, $tg_exec_plain executes"
assert_eq "$denied" "$on_conn" "(c) logins refused by the target without the module"
assert_eq "$tg_exec_plain" 0 "(c) statements executed on the target without the module"
# ---- (d) write-only from the same rows: the same table after it ----------------------------
checksum() {
    mariadb --no-defaults -S "$LAB_DIR/$1/sock" -uroot -N -e "CHECKSUM TABLE wo.sbtest1" | awk '{ print $2 }'
}
before=$(checksum online)
assert_eq "$(checksum target)" "$before" "(d) the tables' checksums before"
: >"$ON"
: >"$TG"
start_intercept "${ICPT[@]}"
start_tcpcopy "${TC[@]}" --module mysql --module-conf "$CONF"
on_cli sysbench oltp_write_only --db-driver=mysql --mysql-host="$IP_ONL" --mysql-user=sbtest \
    --mysql-password=sbpass --mysql-db=wo --tables=1 --table-size=1000 --rand-seed=2 \
    --threads=1 --events=100 --time=0 run >"$LAB_DIR/sysbench-wo.log" 2>&1 ||
    fail "sysbench wo: $(tail -5 "$LAB_DIR/sysbench-wo.log")"
wo_exec=$(count "$ON" "Execute")
settle "count $TG Execute" 60 "$wo_exec" >/dev/null
stop_tc || fail "(d) tcpcopy or intercept did not stop cleanly"
after_on=$(checksum online)
after_tg=$(checksum target)
log "(d) $wo_exec statements; checksums before $before, after: online $after_on, target $after_tg"
[ "$after_on" != "$before" ] || fail "(d) the write-only load changed nothing online"
assert_eq "$after_tg" "$after_on" "(d) the target's checksum after the write-only load"

pass "mariadb: $tg_exec/$on_exec prepared statements on the target with --module mysql, mid-stream $mid_q/$mid_on; $denied/$on_conn logins refused without it; write-only: equal checksums"
