#!/usr/bin/env bash
# Scenario: report.html in a real browser (issue 20). The fixture page (a comparison run with
# hostile endpoints and excerpts: a <script> that would mark <html> with data-pwned, an <img
# onerror>, control bytes, invalid UTF-8) is written by the unit test test_cmp_html
# (TC_HTML_OUT) and opened in Debian's headless Chromium:
#   - controls first: Chromium does run an inline script in this mode (so its absence below
#     means something), and the page's Content-Security-Policy does stop one;
#   - the DOM after load (--dump-dom): the verdict, the differing endpoints in order, the
#     hostile excerpt shown as text, no <script>/<img> element, the script did not run;
#   - a screenshot: its size, not blank, the verdict's red and the latency bars drawn.
# The page, its DOM and the screenshot are kept as CI artifacts in
# ${TC_ARTIFACTS:-build/artifacts}/compare-report/. No network namespace, no root needed
# (Chromium runs with --no-sandbox since CI runs as root). Nothing here waits on time: each
# Chromium run ends when the page has loaded (a 120 s timeout only catches a hung browser).
set -euo pipefail

NAME=test_compare_report
HERE=$(cd "$(dirname "$0")" && pwd)
TC_SRC=${TC_SRC:-$(cd "$HERE/../.." && pwd)}
TC_BIN=${TC_BIN:-$TC_SRC/build/debug}
ART=${TC_ARTIFACTS:-$TC_SRC/build/artifacts}/compare-report
W=1280 H=2600

fail() { echo "FAIL: $NAME: $*"; exit 1; }
log() { printf '[%s %s] %s\n' "$NAME" "$(date +%T)" "$*" >&2; }

CHROMIUM=$(command -v chromium || true)
[ -n "$CHROMIUM" ] || fail "chromium is not installed (scripts/deps.sh installs it)"
[ -x "$TC_BIN/test_cmp_html" ] || fail "no $TC_BIN/test_cmp_html (build the unit tests first)"

TMP=$(mktemp -d /tmp/tc-report.XXXXXX)
trap 'rm -rf "$TMP"' EXIT
mkdir -p "$ART"
rm -f "$ART"/report.html "$ART"/report.png "$ART"/report.dom.html

# chrome MODE OUT URL: one headless run with a profile of its own (parallel runs and the
# caller's profile stay apart). MODE: dom (DOM to OUT) or shot (PNG to OUT).
chrome() {
    local mode=$1 out=$2 url=$3 args
    args=(--headless --no-sandbox --disable-gpu --no-first-run --disable-extensions
          --disable-background-networking --disable-sync --hide-scrollbars
          --user-data-dir="$TMP/profile-$mode-$RANDOM" --window-size="$W,$H")
    if [ "$mode" = dom ]; then
        timeout 120 "$CHROMIUM" "${args[@]}" --dump-dom "$url" >"$out" 2>>"$TMP/chromium.log" ||
            { tail -n 20 "$TMP/chromium.log"; fail "chromium --dump-dom $url failed"; }
    else
        (cd "$TMP" && timeout 120 "$CHROMIUM" "${args[@]}" --screenshot="$out" "$url" \
            >>"$TMP/chromium.log" 2>&1) ||
            { tail -n 20 "$TMP/chromium.log"; fail "chromium --screenshot $url failed"; }
    fi
}

log "chromium: $("$CHROMIUM" --version 2>/dev/null | head -n 1)"

# Control 1: a script on a page without a policy runs (the probe below can see it).
cat >"$TMP/ctl-run.html" <<'EOF'
<!DOCTYPE html><html><body><p>control</p>
<script>document.documentElement.setAttribute("data-pwned","yes")</script></body></html>
EOF
chrome dom "$TMP/ctl-run.dom" "file://$TMP/ctl-run.html"
python3 "$HERE/report_check.py" pwned "$TMP/ctl-run.dom" ||
    fail "control: an inline script did not run in headless chromium: the probe proves nothing"
# Control 2: the same script under the report's Content-Security-Policy does not run.
policy=$(grep -o '<meta http-equiv=Content-Security-Policy content="[^"]*">' \
    "$TC_SRC/tests/data/cmp/report.html") || fail "no Content-Security-Policy in the golden page"
sed "s|<html>|<html><head>$policy</head>|" "$TMP/ctl-run.html" >"$TMP/ctl-csp.html"
chrome dom "$TMP/ctl-csp.dom" "file://$TMP/ctl-csp.html"
if python3 "$HERE/report_check.py" pwned "$TMP/ctl-csp.dom"; then
    fail "control: the report's Content-Security-Policy did not stop an inline script"
fi
log "controls ok: scripts run in this browser, and the page's policy stops them"

# The fixture page, from the unit test (which also checks it against the golden file).
TC_DATA="$TC_SRC/tests/data" TC_HTML_OUT="$TMP/report.html" "$TC_BIN/test_cmp_html" \
    >"$TMP/unit.log" 2>&1 || { tail -n 30 "$TMP/unit.log"; fail "test_cmp_html failed"; }
[ -s "$TMP/report.html" ] || fail "test_cmp_html wrote no page"
cp "$TMP/report.html" "$ART/report.html"

chrome dom "$TMP/report.dom.html" "file://$TMP/report.html"
cp "$TMP/report.dom.html" "$ART/report.dom.html"
python3 "$HERE/report_check.py" dom "$TMP/report.dom.html" || fail "the page's DOM is wrong"

chrome shot "$TMP/report.png" "file://$TMP/report.html"
[ -s "$TMP/report.png" ] || fail "no screenshot written"
cp "$TMP/report.png" "$ART/report.png"
size=$(stat -c %s "$TMP/report.png")
[ "$size" -ge 20000 ] || fail "the screenshot is only $size bytes"
python3 "$HERE/report_check.py" png "$TMP/report.png" "$W" "$H" || fail "the screenshot is wrong"

echo "PASS: $NAME: verdict, endpoints and escaped excerpts in the DOM, no script ran;" \
    "screenshot ${size} bytes kept in $ART/report.png"
