#!/usr/bin/env bash
# Install what a fresh Debian 12 machine needs to build, test and demo the project (as root).
# Idempotent and quiet: when every package is already installed, apt is not run at all.
set -euo pipefail

# chromium: tests/lab/test_compare_report.sh opens report.html in it (headless).
# redis-server, redis-tools: tests/lab/test_compare_redis.sh (redis-cli, redis-benchmark).
PKGS=(build-essential cmake pkg-config libpcap-dev libssl-dev libcmocka-dev clang libclang-rt-14-dev
      valgrind cppcheck nginx wrk apache2-utils curl tcpdump nftables iproute2 python3 procps util-linux
      ca-certificates universal-ctags prometheus
      libcap2-bin systemd debhelper devscripts lintian fakeroot adduser
      chromium
      redis-server redis-tools mariadb-server mariadb-client postgresql postgresql-contrib sysbench)

missing=()
for p in "${PKGS[@]}"; do
    if [ "$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null)" != installed ]; then
        missing+=("$p")
    fi
done
[ "${#missing[@]}" -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
    echo "deps.sh: missing packages (${missing[*]}); run as root to install them" >&2
    exit 1
fi
log=$(mktemp /tmp/deps.XXXXXX.log)
echo "deps.sh: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
if ! { apt-get -q update && apt-get install -y -q --no-install-recommends "${missing[@]}"; } \
    >"$log" 2>&1; then
    tail -n 30 "$log" >&2
    echo "deps.sh: apt-get failed (full log: $log)" >&2
    exit 1
fi
rm -f "$log"
