#!/usr/bin/env bash
# The demo: build a release, bring up the lab (tests/lab/lib.sh), copy live HTTP traffic from
# the production server to the test server with the original's command lines, and report.
#   online:  nginx :80,   tcpcopy -x 80-192.0.2.20:8080 -s 192.0.2.30 -c 203.0.113.x
#   target:  nginx :8080, replies for 203.0.113.0/24 routed via 192.0.2.30
#   assist:  intercept -i eth0 -F 'tcp and src port 8080'
#   client:  100 curl requests, then wrk -t1 -c10, 40,000 requests with unique URIs
# TC_BIN=<dir> uses existing binaries instead of building build/release. Needs root.
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/deps.sh
if [ -z "${TC_BIN:-}" ]; then
    echo "building build/release"
    blog=$(mktemp /tmp/tc-demo-build.XXXXXX)
    if ! { cmake -S . -B build/release -DCMAKE_BUILD_TYPE=RelWithDebInfo &&
        cmake --build build/release -j2; } >"$blog" 2>&1; then
        tail -n 40 "$blog"
        echo "demo: build failed (log: $blog)"
        exit 1
    fi
    rm -f "$blog"
    TC_BIN=$PWD/build/release
fi
export TC_BIN
# shellcheck disable=SC2034  # read by lib.sh
LAB_NAME=demo
. tests/lab/lib.sh

lab_up
start_http_copy

log "client: 100 curl requests"
on_cli timeout 60 bash -c '
    for i in $(seq 1 100); do
        curl -s -m 5 -o /dev/null "http://'"$IP_ONL"'/demo/$i" || echo "curl $i failed" >&2
    done'
wrk_count demo 10 40000 "http://$IP_ONL/"

log "waiting for the target to have every request (or 10 s without progress)"
settle "lines $TG_LOG" 120 "$(lines "$ON_LOG")" >/dev/null
echo
echo "==== demo report ===="
report "$ON_LOG" "$TG_LOG"
uri_share "$ON_LOG" "$TG_LOG" 1 '$' uris
echo "target: $(awk '$1 ~ /^203\.0\.113\./ { print $1 }' "$TG_LOG" | sort -u | wc -l) fake client" \
    "addresses (-c 203.0.113.x), $(awk '$5 != 200' "$TG_LOG" | wc -l) answers other than 200"
rc=0
stop_tc || rc=1
exit "$rc"
