#!/usr/bin/env bash
# The built-in `postgresql` module with Debian's PostgreSQL 15 on online and on target (same
# user and password, separate clusters, every statement and connection logged). The channel
# carries the target's answers (intercept --payload over PSK TLS). pgbench (prepared mode,
# bounded by transactions) runs through the online server; its SSLRequest is answered 'N'.
#  (a) scram-sha-256 with --module postgresql: every pgbench connection is authorized on the
#      target, none fails, and the target executes as many statements as the online server.
#  (b) md5 (password_encryption md5, pg_hba md5): the same.
#  (c) scram-sha-256 without --module: the target refuses every copied login (the test can
#      fail).
#  (d) pgbench connections logged in before tcpcopy started (simple protocol, rate-limited
#      and bounded by transactions): the module logs each in itself (md5 from --module-conf,
#      database from its '@database' line); >= 99% of the statements the online server ran
#      after tcpcopy started run on the target.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/db_lib.sh"

CLIENTS=4 TX=${PG_TX:-25}
pg_need
lab_up
chmod 755 "$LAB_DIR"

# pg_start NS NAME: a cluster on 0.0.0.0:5432 in NS, data and log in $LAB_DIR/NAME.
pg_start() {
    local d=$LAB_DIR/$2
    pg_cluster_start "$1" "$2" -c log_connections=on -c log_statement=all
    PGPASSWORD=pgpass pgbench -q -i -s 1 -h "$d" -U pgu app >"$d/init.log" 2>&1 ||
        fail "pgbench -i on $2: $(tail -3 "$d/init.log")"
}

# pg_auth METHOD: both clusters authenticate pgu by METHOD (its password stored for it).
pg_auth() {
    local n d
    for n in online target; do
        d=$LAB_DIR/$n
        sed -i "s/^host all pgu .*/host all pgu 0.0.0.0\/0 $1/" "$d/data/pg_hba.conf"
        psql -q -h "$d" -U postgres -c "SET password_encryption = '$1'" \
            -c "ALTER USER pgu PASSWORD 'pgpass'" -c "SELECT pg_reload_conf()" >/dev/null
    done
}

pg_start "$NS_ONL" online
pg_start "$NS_TGT" target
ON=$LAB_DIR/online/log
TG=$LAB_DIR/target/log
SECRET=$LAB_DIR/secret
CONF=$LAB_DIR/db.conf
(umask 077 && head -c 24 /dev/urandom | base64 >"$SECRET" &&
    printf 'pgu pgpass\n@database app\n' >"$CONF")
ICPT=(-i eth0 -F 'tcp and src port 5432' --payload --secret-file "$SECRET")
TC=(-x 5432-192.0.2.20:5432 -s 192.0.2.30 -c 203.0.113.x --channel-payload --secret-file "$SECRET")

count() { grep -cE -- "$2" "$1" 2>/dev/null || true; }
# A refused login: a wrong md5 or SCRAM proof, or a SCRAM exchange with production's nonce.
REFUSED='authentication failed|invalid SCRAM response'

# run NAME MODULE...: pgbench through the online server with tcpcopy (args after NAME);
# sets on_auth on_exec tg_auth tg_exec tg_fail.
run() {
    local name=$1 off_on off_tg
    shift
    off_on=$(wc -l <"$ON")
    off_tg=$(wc -l <"$TG")
    start_intercept "${ICPT[@]}"
    start_tcpcopy "${TC[@]}" "$@"
    on_cli env PGPASSWORD=pgpass pgbench -h "$IP_ONL" -U pgu -c "$CLIENTS" -t "$TX" -M prepared \
        -n app >"$LAB_DIR/pgbench-$name.log" 2>&1 || fail "pgbench $name: $(tail -3 "$LAB_DIR/pgbench-$name.log")"
    tail -n +"$((off_on + 1))" "$ON" >"$LAB_DIR/$name.online.log"
    on_auth=$(count "$LAB_DIR/$name.online.log" "connection authorized: user=pgu")
    on_exec=$(count "$LAB_DIR/$name.online.log" "LOG:  execute ")
    if [ $# -gt 0 ]; then
        settle "tail -n +$((off_tg + 1)) $TG | grep -c 'LOG:  execute '" 90 "$on_exec" >/dev/null
    else
        settle "tail -n +$((off_tg + 1)) $TG | grep -cE '$REFUSED'" 30 "$on_auth" >/dev/null
    fi
    tail -n +"$((off_tg + 1))" "$TG" >"$LAB_DIR/$name.target.log"
    tg_auth=$(count "$LAB_DIR/$name.target.log" "connection authorized: user=pgu")
    tg_exec=$(count "$LAB_DIR/$name.target.log" "LOG:  execute ")
    tg_fail=$(count "$LAB_DIR/$name.target.log" "$REFUSED")
    stop_tc || fail "$name: tcpcopy or intercept did not stop cleanly"
    summary=""
    [ $# -eq 0 ] || summary=$(grep -o 'postgresql: logins rewritten.*' "$TCPCOPY_LOG" | tail -1 || true)
    log "$name: online $on_auth logins, $on_exec executes; target $tg_auth logins," \
        "$tg_exec executes, $tg_fail failed; $summary"
}

# check NAME: the target did what the online server did, the module rewrote every login.
check() {
    assert_ge "$on_auth" "$CLIENTS" "$1: logins online"
    assert_eq "$tg_fail" 0 "$1: authentication failures on the target"
    assert_eq "$tg_auth" "$on_auth" "$1: logins on the target"
    assert_eq "$(tc_stat module.events.logins_rewritten)" "$on_auth" \
        "$1: logins the module rewrote (module.events.logins_rewritten)"
    assert_eq "$tg_exec" "$on_exec" "$1: statements executed on the target"
    want=$(grep -o 'execute .*' "$LAB_DIR/$1.online.log" | sed 's/[0-9][0-9]*/N/g' | LC_ALL=C sort | md5sum)
    got=$(grep -o 'execute .*' "$LAB_DIR/$1.target.log" | sed 's/[0-9][0-9]*/N/g' | LC_ALL=C sort | md5sum)
    assert_eq "$got" "$want" "$1: the statements, by kind"
}

run scram --module postgresql --module-conf "$CONF"
check scram
scram_exec=$tg_exec
pg_auth md5
run md5 --module postgresql --module-conf "$CONF"
check md5
md5_exec=$tg_exec
pg_auth scram-sha-256
run plain
assert_ge "$tg_fail" "$on_auth" "plain: logins refused by the target without the module"
assert_eq "$tg_auth" 0 "plain: logins accepted by the target without the module"
assert_eq "$tg_exec" 0 "plain: statements executed on the target without the module"
plain_fail=$tg_fail plain_auth=$on_auth

# ---- (d) mid-stream: connections logged in before tcpcopy started --------------------------
off_tg=$(wc -l <"$TG")
start_intercept "${ICPT[@]}"
on_cli env PGPASSWORD=pgpass pgbench -h "$IP_ONL" -U pgu -c "$CLIENTS" -t 60 -R 40 -M simple \
    -n app >"$LAB_DIR/pgbench-mid.log" 2>&1 &
PB=$!
lab_track "$PB"
off_on=$(wc -l <"$ON")
wait_until "[ \$(tail -n +$((off_on + 1)) $ON | grep -c 'LOG:  statement: ') -ge 50 ]" 30 ||
    fail "(d) pgbench did not start"
start_tcpcopy "${TC[@]}" --module postgresql --module-conf "$CONF"
mark=$(wc -l <"$ON")
wait "$PB" || fail "(d) pgbench: $(tail -3 "$LAB_DIR/pgbench-mid.log")"
on_after=$(tail -n +"$((mark + 1))" "$ON" | grep -c 'LOG:  statement: ' || true)
settle "tail -n +$((off_tg + 1)) $TG | grep -c 'LOG:  statement: '" 90 "$on_after" >/dev/null
tail -n +"$((off_tg + 1))" "$TG" >"$LAB_DIR/mid.target.log"
tg_q=$(count "$LAB_DIR/mid.target.log" "LOG:  statement: ")
tg_auth=$(count "$LAB_DIR/mid.target.log" "connection authorized: user=pgu database=app")
tg_fail=$(count "$LAB_DIR/mid.target.log" "$REFUSED")
stop_tc || fail "(d) tcpcopy or intercept did not stop cleanly"
summary=$(grep -o 'postgresql: logins rewritten.*' "$TCPCOPY_LOG" | tail -1 || true)
log "(d) online: $on_after statements after tcpcopy started; target: $tg_auth logins, $tg_q" \
    "statements, $tg_fail refused; $summary"
assert_eq "$tg_fail" 0 "(d) logins refused by the target"
assert_eq "$tg_auth" "$CLIENTS" "(d) logins of the module's own on the target"
assert_eq "$(tc_stat module.events.logins_resumed)" "$CLIENTS" "(d) sessions resumed (module.events.logins_resumed)"
assert_ge "$((tg_q * 100))" "$((on_after * 99))" "(d) statements on the target x 100 (>= 99% of online's)"

pass "postgres: scram-sha-256 $scram_exec and md5 $md5_exec statements on the target with --module postgresql, every login accepted; mid-stream $tg_q/$on_after; without it 0/$plain_auth logins accepted ($plain_fail refusals)"
