#!/usr/bin/env bash
# tcpcopy --compare with chunked answers and short connections: cmp_server.py online and on
# the target answering every GET with Transfer-Encoding: chunked, five chunks each sent on
# its own (an answer spread over segments), the same bodies but for the paths ending in 7,
# where the target's copy changes one byte inside the third chunk. Load, bounded by count:
# SHORT one-request connections (Connection: close, one after another) and KEEP keep-alive
# curl sessions of N requests. Asserts: every request compared, exactly the requests of the
# paths ending in 7 reported, kind body, at an offset past the first chunk.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/compare_lib.sh"
. "$(dirname "$0")/compare_more_lib.sh"

SHORT=${SHORT:-400}
KEEP=2
N=50
lab_up
start_cmp_server "$NS_ONL" 80 online --chunked
ON_LOG=$SRV_LOG
start_cmp_server "$NS_TGT" 8080 target --chunked --differ '7$'
TG_LOG=$SRV_LOG
cmp_start_copy 8080

log "$SHORT one-request connections, $KEEP keep-alive sessions of $N requests"
short_sessions "$SHORT" s || fail "the short connections failed"
for ((s = 0; s < KEEP; s++)); do
    on_cli timeout 60 curl -s -m 30 -o /dev/null "http://$IP_ONL/k/$s/[1-$N]" ||
        fail "curl session $s failed"
done
want=$((SHORT + KEEP * N))
assert_eq "$(lines "$ON_LOG")" "$want" "requests served online"
# The client read every answer whole, chunked: curl checks the chunks (one answer looked at).
body=$(on_cli curl -s -m 5 --raw "http://$IP_ONL/c/1") || fail "curl --raw failed"
[[ "$body" == *$'\r\n0\r\n'* ]] || fail "the test server's answer is not chunked: ${body:0:80}"
want=$((want + 1))
settle "lines $TG_LOG" 60 "$want" >/dev/null
report "$ON_LOG" "$TG_LOG"
cmp_finish "$want"

awk '$4 ~ /7$/ { print $4 }' "$ON_LOG" >"$LAB_DIR/want.txt"
want_diff=$(lines "$LAB_DIR/want.txt")
assert_ge "$want_diff" 40 "known differences among the requests (sanity)"
# Every request compared, 400 short connections included: each answer comes after its
# connection's SYN in the one capture socket (with two sockets, up to 10% under ASan had
# no session yet or a gap).
assert_eq "$(summary not_compared)" 0 "requests not compared"
assert_eq "$(summary compared)" "$want" "requests compared (summary.json) = served online"
assert_eq "$(summary different_by_kind.body)" "$(summary different)" "differences, all of kind body"
assert_eq "$(summary different)" "$want_diff" "requests reported different"
assert_eq "$(summary equal)" "$((want - want_diff))" "requests equal"
cmp_expect_mismatches "$LAB_DIR/want.txt" body '7$'
# The changed byte is in the third chunk (cmp_server.py), past the first chunk's 215 bytes or
# more: the offset reported (exact, or the start of the block that holds it: doc/compare.md)
# is past those and before the answer's end, never in the status line or the headers.
"$LAB_PY" - "$CMP_DIR/mismatches.jsonl" <<'PY' || fail "offsets in mismatches.jsonl"
import json, sys
offs = sorted(json.loads(l)["offset"] for l in open(sys.argv[1]))
assert offs and all(200 <= o < 1400 for o in offs), offs[:5] + offs[-5:]
print("offsets of the differences: %d .. %d" % (offs[0], offs[-1]))
PY
assert_eq "$(tc_stat compare.different)" "$(summary different)" "tcpcopy's compare.different counter"
pass "$want requests ($SHORT one-request connections), all compared, the $want_diff known differences inside a chunk reported, none other"
