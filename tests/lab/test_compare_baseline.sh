#!/usr/bin/env bash
# tcpcopy --compare with --compare-baseline (noise learning, doc/compare.md): Debian's nginx
# online (80), on the target (8080) and as the baseline (8081, on the target host), all three
# adding a random header to every answer (add_header X-Rand $request_id). The baseline serves
# production's files, the target the trees of compare_lib.sh (CHANGED files differ in one
# byte, GONE files are missing). Asserts: every request compared; the X-Rand difference is
# reported as noise only (noise.jsonl, summary's noise); exactly the known URLs in
# mismatches.jsonl (kinds body and status), although they differ in X-Rand too; every
# request reached the baseline and no result went without its answer.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/compare_lib.sh"

SESSIONS=3 # keep-alive sessions of NFILES requests
SINGLES=20 # one-request sessions

lab_up
make_trees
rm -f "$LAB_DIR/www-online/big" "$LAB_DIR/www-target/big"
NGINX_EXTRA='add_header X-Rand $request_id always;'
start_nginx_files "$NS_ONL" 80 online "$LAB_DIR/www-online"
ON_LOG=$NGINX_LOG
start_nginx_files "$NS_TGT" 8080 target "$LAB_DIR/www-target"
TG_LOG=$NGINX_LOG
start_nginx_files "$NS_TGT" 8081 baseline "$LAB_DIR/www-online"
BL_LOG=$NGINX_LOG
SECRET="$LAB_DIR/secret"
(umask 077 && head -c 24 /dev/urandom | base64 >"$SECRET")
# intercept captures both targets' replies.
start_intercept -i eth0 -F 'tcp and (src port 8080 or src port 8081)' --payload --secret-file "$SECRET"
CMP_DIR="$LAB_DIR/compare"
start_tcpcopy -x 80-192.0.2.20:8080 -s 192.0.2.30 -c 203.0.113.x --secret-file "$SECRET" \
    --compare "$CMP_DIR" --compare-baseline 192.0.2.20:8081

log "$SESSIONS keep-alive sessions of $NFILES requests, $SINGLES one-request sessions"
for ((i = 0; i < SESSIONS; i++)); do
    on_cli timeout 60 curl -s -m 30 -o /dev/null "http://$IP_ONL/f/[1-$NFILES]" ||
        fail "curl session $i failed"
done
singles_diff=0
for ((i = 1; i <= SINGLES; i++)); do
    u=$(((i * 7) % NFILES + 1))
    on_cli timeout 10 curl -s -m 5 -o /dev/null "http://$IP_ONL/f/$u" || fail "curl $i failed"
    for d in "${CHANGED[@]}" "${GONE[@]}"; do [ "$u" = "$d" ] && singles_diff=$((singles_diff + 1)); done
done
want_req=$((SESSIONS * NFILES + SINGLES))
want_diff=$((SESSIONS * (${#CHANGED[@]} + ${#GONE[@]}) + singles_diff))
assert_eq "$(lines "$ON_LOG")" "$want_req" "requests served online"
settle "lines $TG_LOG" 30 "$want_req" >/dev/null
settle "lines $BL_LOG" 30 "$want_req" >/dev/null
settle "cmp_results" 30 "$want_req" >/dev/null
stop_tc || fail "tcpcopy or intercept did not stop cleanly"

log "summary.json: $(tr -d '\n' <"$CMP_DIR/summary.json" | cut -c1-300)"
assert_eq "$(lines "$TG_LOG")" "$want_req" "requests served by the target"
assert_eq "$(lines "$BL_LOG")" "$want_req" "requests served by the baseline"
assert_eq "$(summary not_compared)" 0 "requests not compared"
assert_eq "$(summary compared)" "$want_req" "requests compared (summary.json)"
assert_eq "$(summary equal)" 0 "requests equal (X-Rand differs on every answer)"
assert_eq "$(summary different)" "$want_diff" "requests reported different"
assert_eq "$(summary noise)" "$((want_req - want_diff))" "requests whose difference is noise"
assert_eq "$(lines "$CMP_DIR/mismatches.jsonl")" "$want_diff" "lines in mismatches.jsonl"
assert_eq "$(lines "$CMP_DIR/noise.jsonl")" "$((want_req - want_diff))" "lines in noise.jsonl"
assert_eq "$(tc_stat compare.noise)" "$((want_req - want_diff))" "tcpcopy's compare.noise counter"
assert_eq "$(tc_stat compare.different)" "$want_diff" "tcpcopy's compare.different counter"
assert_eq "$(tc_stat compare.baseline_missing)" 0 "results without the baseline's answer"
"$LAB_PY" - "$CMP_DIR/mismatches.jsonl" "$CMP_DIR/noise.jsonl" "${CHANGED[*]}" "${GONE[*]}" <<'PY' ||
import json, sys
changed = set("/f/" + x for x in sys.argv[3].split())
gone = set("/f/" + x for x in sys.argv[4].split())
seen = set()
for line in open(sys.argv[1]):
    r = json.loads(line)
    path = r["endpoint"][4:]
    want = "body" if path in changed else "status" if path in gone else None
    if want is None or r["kind"] != want:
        sys.exit("mismatches.jsonl: unexpected %s kind %s" % (path, r["kind"]))
    seen.add(path)
if seen != changed | gone:
    sys.exit("mismatches.jsonl: %s, expected %s" % (sorted(seen), sorted(changed | gone)))
n = 0
for line in open(sys.argv[2]):
    r = json.loads(line)
    path = r["endpoint"][4:]
    if path in changed | gone or r["kind"] != "header" or not r["online"].startswith("x-rand:") \
            or not r["target"].startswith("x-rand:") or r["online"] == r["target"]:
        sys.exit("noise.jsonl: unexpected %r" % r)
    n += 1
print("mismatches.jsonl: exactly %s; noise.jsonl: %d lines, all x-rand" % (sorted(seen), n))
PY
    fail "the reports are not what was expected"
pass "$want_req requests compared with a baseline: $(summary noise) noise (X-Rand), exactly the $want_diff known differences reported"
