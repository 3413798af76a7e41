#!/usr/bin/env bash
# cmake --install and the systemd units (no namespaces: nothing runs, nothing outside a
# temporary directory is touched).
#   1  `cmake --install $TC_BIN --prefix P` lays out P/sbin/{tcpcopy,intercept},
#      P/share/man/man1/tcpcopy.1, man8/intercept.8, P/share/doc/tcpcopy/ (README.md,
#      design.md, protocol.md, examples/*.conf.example), P/lib/systemd/system/
#      {intercept.service,tcpcopy@.service}, P/lib/sysusers.d/tcpcopy.conf, P/etc/tcpcopy/.
#   2  the units of a build configured with that prefix name P/sbin/... and P/etc/tcpcopy/;
#      `systemd-analyze verify` accepts them (programs and man pages found), and
#      `systemd-analyze security --offline=yes` rates each at most MAX_EXPOSURE (2.5;
#      "OK"), printing the scores (README: Deployment).
#   3  the installed example configurations are read by the installed programs (--config
#      with -h: every line is parsed, nothing is opened; test_conf parses them in full).
set -euo pipefail
. "$(dirname "$0")/lib.sh"

MAX_EXPOSURE=${MAX_EXPOSURE:-2.5}
command -v systemd-analyze >/dev/null || fail "systemd-analyze is needed (systemd)"
[ -f "$TC_BIN/cmake_install.cmake" ] || fail "$TC_BIN is not a CMake build directory"
T=$(mktemp -d "/tmp/tcinstall.XXXXXX")
trap 'rm -rf "$T"' EXIT

P="$T/prefix"
cmake --install "$TC_BIN" --prefix "$P" >"$T/install.log" 2>&1 || { cat "$T/install.log"; fail "cmake --install failed"; }
for f in sbin/tcpcopy sbin/intercept share/man/man1/tcpcopy.1 share/man/man8/intercept.8 \
    share/doc/tcpcopy/README.md share/doc/tcpcopy/design.md share/doc/tcpcopy/protocol.md \
    share/doc/tcpcopy/examples/tcpcopy.conf.example share/doc/tcpcopy/examples/intercept.conf.example \
    lib/systemd/system/intercept.service lib/systemd/system/tcpcopy@.service \
    lib/sysusers.d/tcpcopy.conf; do
    [ -f "$P/$f" ] || fail "not installed: $f"
done
[ -d "$P/etc/tcpcopy" ] || fail "not installed: etc/tcpcopy/"
if ! [ -x "$P/sbin/tcpcopy" ] || ! [ -x "$P/sbin/intercept" ]; then fail "programs not executable"; fi
log "ok: layout under --prefix: $(cd "$P" && find . -type f | wc -l) files"

# Units for a prefix: configure only (configure_file), the programs copied in.
Q="$T/q"
cmake -S "$TC_SRC" -B "$T/build" -DCMAKE_INSTALL_PREFIX="$Q" -DTC_TESTS=OFF >"$T/configure.log" 2>&1 ||
    { cat "$T/configure.log"; fail "configure failed"; }
mkdir -p "$Q/sbin" "$T/man/man1" "$T/man/man8"
install -m 0755 "$P/sbin/tcpcopy" "$P/sbin/intercept" "$Q/sbin/"
cp "$P/share/man/man1/tcpcopy.1" "$T/man/man1/"
cp "$P/share/man/man8/intercept.8" "$T/man/man8/"
U="$T/build/dist"
assert_eq "$(grep '^ExecStart=' "$U/intercept.service")" "ExecStart=$Q/sbin/intercept --config $Q/etc/tcpcopy/intercept.conf" "intercept.service ExecStart"
assert_eq "$(grep '^ExecStart=' "$U/tcpcopy@.service")" "ExecStart=$Q/sbin/tcpcopy --config $Q/etc/tcpcopy/%i.conf" "tcpcopy@.service ExecStart"
MANPATH="$T/man" systemd-analyze verify "$U/intercept.service" "$U/tcpcopy@.service" >"$T/verify.log" 2>&1 ||
    { cat "$T/verify.log"; fail "systemd-analyze verify"; }
[ ! -s "$T/verify.log" ] || { cat "$T/verify.log"; fail "systemd-analyze verify printed warnings"; }
log "ok: systemd-analyze verify: no findings"
for u in intercept.service tcpcopy@.service; do
    systemd-analyze security --offline=yes "$U/$u" >"$T/sec.log" 2>&1 || true
    score=$(awk '/Overall exposure level/ { for (i = 1; i <= NF; i++) if ($i ~ /^[0-9]+\.[0-9]+$/) print $i }' "$T/sec.log")
    [ -n "$score" ] || { cat "$T/sec.log"; fail "$u: no exposure level in systemd-analyze security"; }
    echo "systemd-analyze security --offline=yes $u: $(grep 'Overall exposure level' "$T/sec.log" | sed 's/.*: //')"
    awk -v s="$score" -v m="$MAX_EXPOSURE" 'BEGIN { exit !(s + 0 <= m + 0) }' ||
        { grep '✗' "$T/sec.log"; fail "$u: exposure $score > $MAX_EXPOSURE"; }
done

# The examples are read (-h after --config: each line parsed, nothing opened).
for p in tcpcopy intercept; do
    out=$("$P/sbin/$p" --config "$P/share/doc/tcpcopy/examples/$p.conf.example" -h 2>&1) ||
        fail "$p: example configuration refused: $out"
done
log "ok: example configurations accepted"
pass "install layout, units verified, exposure at most $MAX_EXPOSURE"
