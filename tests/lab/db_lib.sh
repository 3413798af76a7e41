# Shared by the database lab scenarios, MariaDB and PostgreSQL (sourced after lib.sh).

# mariadb_start NS NAME: Debian's MariaDB on 0.0.0.0:3306 in NS, data and logs in
# $LAB_DIR/NAME (the general query log in general.log), user sbtest/sbpass with all rights
# on database sbtest. mariadb_sql NAME runs root's SQL from stdin on it.
mariadb_start() {
    local ns=$1 d=$LAB_DIR/$2
    mkdir -p "$d"
    chown mysql:mysql "$d"
    mariadb-install-db --user=mysql --datadir="$d/data" --skip-test-db \
        --auth-root-authentication-method=normal >"$d/install.log" 2>&1 ||
        fail "mariadb-install-db $2: $(tail -3 "$d/install.log")"
    ip netns exec "$ns" mariadbd --no-defaults --user=mysql --datadir="$d/data" \
        --socket="$d/sock" --port=3306 --bind-address=0.0.0.0 --skip-name-resolve \
        --pid-file="$d/pid" --log-error="$d/error.log" --general-log=1 \
        --general-log-file="$d/general.log" --innodb-buffer-pool-size=32M \
        --performance-schema=0 >/dev/null 2>&1 &
    lab_track $!
    wait_until "mariadb --no-defaults -S $d/sock -uroot -e 'SELECT 1'" 60 ||
        fail "mariadbd $2 did not start: $(tail -5 "$d/error.log")"
    mariadb_sql "$2" <<<"CREATE USER 'sbtest'@'%' IDENTIFIED BY 'sbpass'; CREATE DATABASE sbtest;
        GRANT ALL ON sbtest.* TO 'sbtest'@'%';" || fail "creating user sbtest on $2"
}

mariadb_sql() { mariadb --no-defaults -S "$LAB_DIR/$1/sock" -uroot "${@:2}"; }

# db_secrets CREDENTIALS: the channel's secret in $SECRET and the module's credentials file
# in $CONF (mode 600), holding CREDENTIALS (printf format).
db_secrets() {
    SECRET=$LAB_DIR/secret CONF=$LAB_DIR/db.conf
    (umask 077 && head -c 24 /dev/urandom | base64 >"$SECRET" && printf "$1" >"$CONF")
}

PGBIN=/usr/lib/postgresql/15/bin

# pg_need: PostgreSQL 15 and pgbench are installed, or the scenario fails saying so.
pg_need() {
    [ -x "$PGBIN/postgres" ] && command -v pgbench >/dev/null ||
        fail "postgresql 15 and pgbench are needed (scripts/deps.sh)"
}

# pg_cluster_start NS NAME [POSTGRES_ARG...]: a PostgreSQL 15 cluster on 0.0.0.0:5432 in NS,
# data, socket and log in $LAB_DIR/NAME, user pgu/pgpass (scram-sha-256 over TCP) owning
# database app; POSTGRES_ARGs go to postgres.
pg_cluster_start() {
    local ns=$1 name=$2 d=$LAB_DIR/$2
    shift 2
    mkdir -p "$d"
    chown postgres "$d"
    runuser -u postgres -- "$PGBIN/initdb" -D "$d/data" -A trust -U postgres >"$d/initdb.log" 2>&1 ||
        fail "initdb $name: $(tail -3 "$d/initdb.log")"
    echo "local all all trust" >"$d/data/pg_hba.conf"
    echo "host all pgu 0.0.0.0/0 scram-sha-256" >>"$d/data/pg_hba.conf"
    ip netns exec "$ns" runuser -u postgres -- "$PGBIN/postgres" -D "$d/data" -k "$d" \
        -c listen_addresses='*' -c port=5432 -c shared_buffers=16MB -c fsync=off "$@" \
        >"$d/log" 2>&1 &
    lab_track $!
    wait_until "psql -h $d -U postgres -Atc 'SELECT 1'" 30 ||
        fail "postgres $name did not start: $(tail -5 "$d/log")"
    psql -q -h "$d" -U postgres -c "CREATE USER pgu PASSWORD 'pgpass'" -c "CREATE DATABASE app OWNER pgu"
}
