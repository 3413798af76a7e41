#!/usr/bin/env bash
# The `mysql` module when the target closes an idle session (its wait_timeout, a KILL, a
# restart): Debian's MariaDB on online and on target, one mariadb client session copied with
# --module mysql. It runs BEFORE statements, the target's connection of that session is
# killed (KILL on the target only: online the session goes on), then AFTER statements.
# Asserts: every AFTER statement runs on the target, on a new connection the module logged in
# itself (a second login of sbtest, no "Access denied"), counted module.sessions.relogin; the
# killed connection is not counted as a refused rebuild. Without the relogin the first AFTER
# statement went to the dead connection and was lost (the test can fail).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/db_lib.sh"

BEFORE=5 AFTER=20
command -v mariadbd >/dev/null || fail "mariadb-server is needed (scripts/deps.sh)"
lab_up
chmod 755 "$LAB_DIR"
mariadb_start "$NS_ONL" online
mariadb_start "$NS_TGT" target
ON=$LAB_DIR/online/general.log
TG=$LAB_DIR/target/general.log
db_secrets 'sbtest sbpass\n@database sbtest\n'
start_intercept -i eth0 -F 'tcp and src port 3306' --payload --secret-file "$SECRET"
start_tcpcopy -x 3306-192.0.2.20:3306 -s 192.0.2.30 -c 203.0.113.x --channel-payload \
    --secret-file "$SECRET" --module mysql --module-conf "$CONF"

count() { grep -c "$2" "$1" 2>/dev/null || true; }

# One client session, fed statement by statement through a FIFO.
mkfifo "$LAB_DIR/sql"
on_cli mariadb --no-defaults -h "$IP_ONL" -usbtest -psbpass sbtest <"$LAB_DIR/sql" \
    >"$LAB_DIR/client.out" 2>&1 &
CLIENT=$!
lab_track "$CLIENT"
exec 7>"$LAB_DIR/sql"
for ((i = 1; i <= BEFORE; i++)); do echo "SELECT 'before-$i';" >&7; done
wait_until "[ \$(count $TG before-) -ge $BEFORE ]" 30 ||
    fail "the BEFORE statements did not reach the target ($(count "$TG" before-) of $BEFORE)"

# Kill the target's connection of the session; once tcpcopy acknowledged the target's FIN,
# the connection waits in FIN-WAIT-2 on the target.
id=$(mariadb_sql target -N -e "SELECT id FROM information_schema.processlist WHERE user='sbtest'")
[ -n "$id" ] || fail "no sbtest connection on the target"
mariadb_sql target -e "KILL $id" || fail "KILL $id on the target"
wait_until "on_tgt ss -Htn state fin-wait-2 '( sport = :3306 )' | grep -q ." 20 ||
    fail "tcpcopy did not acknowledge the target's FIN"

for ((i = 1; i <= AFTER; i++)); do echo "SELECT 'after-$i';" >&7; done
exec 7>&-
wait "$CLIENT" || fail "mariadb client: $(tail -3 "$LAB_DIR/client.out")"
assert_eq "$(count "$LAB_DIR/client.out" after-)" "$((AFTER * 2))" "AFTER answers online (header and row each)"
settle "count $TG after-" 60 "$AFTER" >/dev/null
stop_tc || fail "tcpcopy or intercept did not stop cleanly"

log "target: $(count "$TG" "Connect.*sbtest@") logins, $(count "$TG" before-) BEFORE, $(count "$TG" after-) AFTER"
for ((i = 1; i <= AFTER; i++)); do
    assert_eq "$(count "$TG" "Query.*SELECT 'after-$i'\$")" 1 "AFTER statement $i on the target"
done
assert_eq "$(count "$TG" "Connect.*sbtest@")" 2 "logins on the target (the session's, the module's own)"
assert_eq "$(count "$TG" "Access denied")" 0 "logins refused by the target"
assert_eq "$(tc_stat module.sessions.relogin)" 1 "module.sessions.relogin"
assert_eq "$(tc_stat module.sessions.not_rebuilt)" 0 "module.sessions.not_rebuilt"
assert_eq "$(tc_stat module.sessions.failed)" 0 "module.sessions.failed"
pass "a session killed on the target went on after a login of the module's own: $AFTER of $AFTER statements"
