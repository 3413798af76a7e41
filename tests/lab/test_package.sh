#!/usr/bin/env bash
# The Debian package, installed into this machine and removed again.
#   1  scripts/package.sh builds it (dpkg-buildpackage, unit tests included; lintian: no
#      errors); dpkg -i installs it: /usr/sbin/{tcpcopy,intercept}, the man pages, the units
#      in /lib/systemd/system, the system user tcpcopy (postinst); `systemd-analyze verify`
#      accepts the installed units and `systemd-analyze security --offline=yes` rates them.
#   2  a lab copy with the installed programs, started exactly as the units start them: the
#      ExecStart= of each installed unit (tcpcopy@lab.service reads /etc/tcpcopy/lab.conf),
#      as its User= with its AmbientCapabilities= and CapabilityBoundingSet= and
#      NoNewPrivileges (setpriv; systemd itself is not PID 1 here), a shared secret
#      /etc/tcpcopy/secret owned by tcpcopy: once running they hold no capability
#      (/proc/PID/status), and 100% of a count-bounded wrk load is reproduced.
#   3  dpkg --purge removes every file the package installed (dpkg -L before, checked after),
#      /etc/tcpcopy and the units; dpkg knows nothing of the package any more. The system user
#      stays, as Debian packages leave theirs; the test deletes it if it made it.
# Refuses to run when a tcpcopy package is installed already (it would be replaced).
set -euo pipefail
TC_LAB_TIMEOUT=${TC_LAB_TIMEOUT:-900}
. "$(dirname "$0")/lib.sh"

TOTAL=${TOTAL:-10000}
MAX_EXPOSURE=${MAX_EXPOSURE:-2.5}
[ "$(id -u)" -eq 0 ] || fail "root is needed (dpkg -i)"
if dpkg-query -W -f='${db:Status-Status}' tcpcopy 2>/dev/null | grep -qv not-installed; then
    fail "a tcpcopy package is installed already: not replacing it"
fi
if [ -e /usr/sbin/tcpcopy ] || [ -e /usr/sbin/intercept ]; then
    fail "/usr/sbin/tcpcopy or intercept exists already"
fi
USER_EXISTED=0
getent passwd tcpcopy >/dev/null && USER_EXISTED=1

PKG_TMP=$(mktemp -d /tmp/tcpkgtest.XXXXXX)
PKG_INSTALLED=0
pkg_cleanup() {
    rm -f /etc/tcpcopy/lab.conf /etc/tcpcopy/intercept.conf /etc/tcpcopy/secret
    if [ "$PKG_INSTALLED" -eq 1 ]; then
        dpkg --purge tcpcopy >/dev/null 2>&1 || true
    fi
    if [ "$USER_EXISTED" -eq 0 ] && getent passwd tcpcopy >/dev/null; then
        deluser --system --quiet tcpcopy >/dev/null 2>&1 || userdel tcpcopy 2>/dev/null || true
        getent group tcpcopy >/dev/null && { delgroup --system --quiet tcpcopy >/dev/null 2>&1 || true; }
    fi
    rm -rf "$PKG_TMP"
}
trap 'pkg_cleanup' EXIT

# ---- 1: build, install -------------------------------------------------------------------
log "building the package (scripts/package.sh)"
DEB=$(OUT="$PKG_TMP/out" bash "$TC_SRC/scripts/package.sh" 2>"$PKG_TMP/package.err" | tail -n 1) ||
    { tail -n 30 "$PKG_TMP/package.err"; fail "scripts/package.sh failed"; }
[ -f "$DEB" ] || { tail -n 30 "$PKG_TMP/package.err"; fail "no package built"; }
grep -E 'lintian:' "$PKG_TMP/package.err" | tail -n 3 >&2
grep -qE '^E:' "$PKG_TMP/out/lintian.txt" && fail "lintian errors"
log "built $(basename "$DEB") ($(stat -c %s "$DEB") bytes)"
PKG_INSTALLED=1
dpkg -i "$DEB" >"$PKG_TMP/dpkg-i.log" 2>&1 || { cat "$PKG_TMP/dpkg-i.log"; fail "dpkg -i failed"; }
dpkg -L tcpcopy | sort >"$PKG_TMP/files"
for f in /usr/sbin/tcpcopy /usr/sbin/intercept /lib/systemd/system/intercept.service \
    /lib/systemd/system/tcpcopy@.service /usr/share/man/man1/tcpcopy.1.gz \
    /usr/share/man/man8/intercept.8.gz /usr/share/doc/tcpcopy/examples/tcpcopy.conf.example; do
    [ -e "$f" ] || fail "not installed: $f"
done
getent passwd tcpcopy >/dev/null || fail "postinst did not create the user tcpcopy"
TC_UID=$(id -u tcpcopy)
TC_GID=$(id -g tcpcopy)
log "installed: $(wc -l <"$PKG_TMP/files") paths; user tcpcopy uid $TC_UID gid $TC_GID, shell $(getent passwd tcpcopy | cut -d: -f7)"
U=/lib/systemd/system
systemd-analyze verify "$U/intercept.service" "$U/tcpcopy@.service" >"$PKG_TMP/verify.log" 2>&1 ||
    { cat "$PKG_TMP/verify.log"; fail "systemd-analyze verify of the installed units"; }
[ ! -s "$PKG_TMP/verify.log" ] || { cat "$PKG_TMP/verify.log"; fail "systemd-analyze verify printed warnings"; }
for u in intercept.service tcpcopy@.service; do
    line=$(systemd-analyze security --offline=yes "$U/$u" 2>&1 | grep 'Overall exposure level') || true
    score=$(echo "$line" | grep -oE '[0-9]+\.[0-9]+' | tail -n 1)
    [ -n "$score" ] || fail "$u: no exposure level"
    echo "installed $u: systemd-analyze security: ${line##*: }"
    awk -v s="$score" -v m="$MAX_EXPOSURE" 'BEGIN { exit !(s + 0 <= m + 0) }' || fail "$u: exposure $score > $MAX_EXPOSURE"
done

# ---- 2: a lab copy, started as the units start them ---------------------------------------
# unit_value UNIT KEY: the value of KEY= in the installed unit (one line each here).
unit_value() { sed -n "s/^$2=//p" "$U/$1" | tail -n 1; }
# setpriv's form of a capability list: "CAP_NET_RAW CAP_NET_ADMIN" -> "+net_raw,+net_admin".
caps_arg() { echo "$1" | tr 'A-Z ' 'a-z\n' | sed -n 's/^cap_/+/p' | paste -sd, -; }
# wrapper NAME UNIT INSTANCE: $WRAP/NAME runs the unit's ExecStart= (%i = INSTANCE) the way
# systemd would: its user, its ambient capabilities and bounding set, no new privileges.
WRAP="$PKG_TMP/wrap"
mkdir -p "$WRAP"
wrapper() {
    local name=$1 unit=$2 inst=$3 exec user amb bnd
    exec=$(unit_value "$unit" ExecStart | sed "s/%i/$inst/g")
    user=$(unit_value "$unit" User)
    amb=$(caps_arg "$(unit_value "$unit" AmbientCapabilities)")
    bnd=$(caps_arg "$(unit_value "$unit" CapabilityBoundingSet)")
    [ "$(unit_value "$unit" NoNewPrivileges)" = yes ] || fail "$unit: NoNewPrivileges is not set"
    log "$unit as $user, ambient $amb, bounding $bnd: $exec"
    cat >"$WRAP/$name" <<EOF
#!/bin/sh
exec setpriv --reuid=$user --regid=$user --init-groups --inh-caps=$amb --ambient-caps=$amb \\
    --bounding-set=-all,$bnd --no-new-privs $exec "\$@"
EOF
    chmod 0755 "$WRAP/$name"
}

lab_up
# shellcheck disable=SC2154 # rc is the trap's own
trap 'rc=$?; pkg_cleanup; (exit $rc); _lab_cleanup' EXIT
head -c 32 /dev/urandom | base64 >/etc/tcpcopy/secret
chown tcpcopy:tcpcopy /etc/tcpcopy/secret
chmod 600 /etc/tcpcopy/secret
printf '# test_package\nfilter tcp and src port 8080\ndevice = eth0\nsecret-file /etc/tcpcopy/secret\n' \
    >/etc/tcpcopy/intercept.conf
printf '# test_package\ntransfer 80-192.0.2.20:8080\nintercept=192.0.2.30\nclient 203.0.113.x\nsecret-file /etc/tcpcopy/secret\n' \
    >/etc/tcpcopy/lab.conf
wrapper intercept intercept.service ""
wrapper tcpcopy tcpcopy@.service lab
start_nginx "$NS_ONL" 80 online
ON_LOG=$NGINX_LOG
start_nginx "$NS_TGT" 8080 target
TG_LOG=$NGINX_LOG
# shellcheck disable=SC2034 # read by lib.sh's start_intercept / start_tcpcopy
TC_BIN=$WRAP
start_intercept
start_tcpcopy
grep -q 'authenticated' "$TCPCOPY_LOG" || fail "the channel is not authenticated with /etc/tcpcopy/secret"

wrk_count_bg pkg 10 "$TOTAL" "http://$IP_ONL/"
wait_until "[ \$(lines $TG_LOG) -ge 100 ]" 30 || fail "nothing copied yet"
for pid in "$TCPCOPY_PID" "$INTERCEPT_PID"; do
    st="/proc/$pid/status"
    assert_eq "$(awk '$1 == "Uid:" { print $2, $3, $4, $5 }' "$st")" "$TC_UID $TC_UID $TC_UID $TC_UID" "pid $pid Uid"
    assert_eq "$(awk '$1 == "CapEff:" || $1 == "CapPrm:" || $1 == "CapAmb:" { print $2 }' "$st" | sort -u)" 0000000000000000 "pid $pid CapEff, CapPrm, CapAmb"
    assert_eq "$(awk '$1 == "NoNewPrivs:" { print $2 }' "$st")" 1 "pid $pid NoNewPrivs"
done
wrk_count_wait pkg
n=$(lines "$ON_LOG")
assert_ge "$n" "$TOTAL" "requests served online"
settle "lines $TG_LOG" 60 "$n" >/dev/null
uri_share "$ON_LOG" "$TG_LOG" 1 '$' pkg
assert_eq "$SHARE" 1.0000 "share reproduced by the installed programs"
stop_tc || fail "tcpcopy or intercept did not stop cleanly"

# ---- 3: purge ----------------------------------------------------------------------------
rm -f /etc/tcpcopy/lab.conf /etc/tcpcopy/intercept.conf /etc/tcpcopy/secret
dpkg --purge tcpcopy >"$PKG_TMP/purge.log" 2>&1 || { cat "$PKG_TMP/purge.log"; fail "dpkg --purge failed"; }
PKG_INSTALLED=0
left=0
while IFS= read -r f; do
    # Directories other packages share (/usr/sbin, /lib/systemd/system, ...) stay.
    if [ -e "$f" ] && ! [ -d "$f" ]; then
        log "left after purge: $f"
        left=$((left + 1))
    fi
done <"$PKG_TMP/files"
assert_eq "$left" 0 "files left after purge"
[ ! -e /etc/tcpcopy ] || fail "/etc/tcpcopy left after purge"
[ ! -e /usr/share/doc/tcpcopy ] || fail "/usr/share/doc/tcpcopy left after purge"
dpkg-query -W tcpcopy >/dev/null 2>&1 && fail "dpkg still lists tcpcopy after purge"
log "ok: purged: nothing of the package left (user tcpcopy kept by design$([ "$USER_EXISTED" -eq 0 ] && echo '; removed by the test'))"
pass "built (lintian clean), installed, copied 100% as the units run it, purged"
