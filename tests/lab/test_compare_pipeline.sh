#!/usr/bin/env bash
# tcpcopy --compare with pipelined requests: nginx online and on the target (the same files,
# compare_lib.sh), 20 connections each writing 5 HTTP requests in one send() and reading the
# 5 answers, twice: every request compared (auto framing: HTTP), all equal.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/compare_lib.sh"

CONNS=20 DEPTH=5 ROUNDS=2
lab_up
make_trees
for root in "$LAB_DIR/www-online" "$LAB_DIR/www-target"; do # the client's URIs, alike
    for ((c = 0; c < CONNS; c++)); do
        for ((r = 0; r < ROUNDS; r++)); do
            mkdir -p "$root/pipeline/$c/$r"
            for ((i = 0; i < DEPTH; i++)); do echo "answer $c $r $i" >"$root/pipeline/$c/$r/$i"; done
        done
    done
    find "$root/pipeline" -type f -exec touch -d '2026-01-01 00:00:00 UTC' {} +
done
start_nginx_files "$NS_ONL" 80 online "$LAB_DIR/www-online"
start_nginx_files "$NS_TGT" 8080 target "$LAB_DIR/www-target"
SECRET="$LAB_DIR/secret"
(umask 077 && head -c 24 /dev/urandom | base64 >"$SECRET")
start_intercept -i eth0 -F 'tcp and src port 8080' --payload --secret-file "$SECRET"

CMP_DIR="$LAB_DIR/compare"
start_tcpcopy -x 80-192.0.2.20:8080 -s 192.0.2.30 -c 203.0.113.x \
    --secret-file "$SECRET" --compare "$CMP_DIR"
out=$(on_cli timeout 60 "$LAB_PY" "$LAB_LIB_DIR/pipeline_client.py" pipeline --host "$IP_ONL" \
    --port 80 --conns "$CONNS" --rounds "$ROUNDS" --depth "$DEPTH" 2>&1) || fail "pipeline client: $out"
N=$((CONNS * ROUNDS * DEPTH))
settle "cmp_results" 30 "$N" >/dev/null
stop_tc || fail "tcpcopy or intercept did not stop cleanly"
# Every one compared: requests and answers come through one socket, in the kernel's order
# (with two sockets a sanitizer build read most answers out of place).
assert_eq "$(summary not_compared)" 0 "pipelined requests not compared"
assert_eq "$(summary compared)" "$N" "pipelined requests compared"
assert_eq "$(summary equal)" "$N" "equal"
pass "pipelined: $N of $N requests compared, all equal"
