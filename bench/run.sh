#!/usr/bin/env bash
# The benchmark (issue 6): tcpcopy and intercept in the namespace lab, one table row per
# scenario, median and spread over REPEATS runs. Not part of the test suite.
#
#   bash bench/run.sh [scenario...]        (as root; default: all scenarios)
#
# Scenarios: ka10 ka50 ka50pcap ka50v6 ka100 short bulk idle offline floor floorshort fanin compare (see bench/README.md).
# Environment: REPEATS (3), TC_BIN (a build directory; default: build a release build into
# build/release), BENCH_DURATION (10 s of wrk), BULK_MB (200), IDLE_N (20000),
# OFFLINE_CONNS (50), OFFLINE_DURATION (5 s), OFFLINE_DELAY_MS (10), OFFLINE_WORKERS (nproc) for offline,
# BENCH_CSV (bench/results.csv), BENCH_KEEP=1 (keep every run's log), BENCH_PERF=FILE (perf profile of tcpcopy under the wrk loads).
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "$0")" && pwd)
SRC=$(cd "$BENCH_DIR/.." && pwd)
ALL=(ka10 ka50 ka50pcap ka50v6 ka100 short bulk idle offline floor floorshort fanin compare)
REPEATS=${REPEATS:-3}
RUN_TIMEOUT=${BENCH_RUN_TIMEOUT:-360}   # seconds, one run of one scenario
CSV=${BENCH_CSV:-$BENCH_DIR/results.csv}
PY=$(command -v /usr/bin/python3 || command -v python3)

say() { printf '[bench %s] %s\n' "$(date +%T)" "$*" >&2; }

[ "$(id -u)" -eq 0 ] || { echo "bench/run.sh: run as root (the lab needs it)" >&2; exit 1; }
[[ $REPEATS =~ ^[1-9][0-9]*$ ]] || { echo "bench/run.sh: REPEATS must be >= 1" >&2; exit 2; }

scen=("$@")
[ "${#scen[@]}" -gt 0 ] || scen=("${ALL[@]}")
for s in "${scen[@]}"; do
    case " ${ALL[*]} " in
    *" $s "*) ;;
    *) echo "bench/run.sh: unknown scenario '$s' (known: ${ALL[*]})" >&2; exit 2 ;;
    esac
done

bash "$SRC/scripts/deps.sh"
if [ -z "${TC_BIN:-}" ]; then
    say "release build in build/release"
    blog=$(mktemp /tmp/tcbench-build.XXXXXX.log)
    if ! { cmake -S "$SRC" -B "$SRC/build/release" -DCMAKE_BUILD_TYPE=RelWithDebInfo &&
        cmake --build "$SRC/build/release" -j2; } >"$blog" 2>&1; then
        tail -n 30 "$blog" >&2
        echo "bench/run.sh: build failed (log: $blog)" >&2
        exit 1
    fi
    rm -f "$blog"
    TC_BIN=$SRC/build/release
fi
TC_BIN=$(cd "$TC_BIN" && pwd)
export TC_BIN
for b in tcpcopy intercept; do
    [ -x "$TC_BIN/$b" ] || { echo "bench/run.sh: $TC_BIN/$b not found" >&2; exit 1; }
done

model=$(awk -F': *' '/^model name/ { print $2; exit }' /proc/cpuinfo)
machine="nproc $(nproc), ${model:-unknown CPU}"
commit=$(git -C "$SRC" rev-parse --short HEAD 2>/dev/null || echo unknown)
if [ "$commit" != unknown ] &&
    [ -n "$(git -C "$SRC" --no-optional-locks status --porcelain --untracked-files=no 2>/dev/null)" ]; then
    commit="$commit-dirty"
fi
date=$(date -u +%Y-%m-%dT%H:%MZ)

OUT=$(mktemp -d /tmp/tcbench.XXXXXX)
cleanup() { rm -f "$OUT/body.bin" "$OUT/floor"; }
trap cleanup EXIT
say "machine: $machine; commit $commit; binaries $TC_BIN; $REPEATS run(s) per scenario; logs in $OUT"

if [[ " ${scen[*]} " == *" floor"* ]]; then
    # bench/floor.c, with the project's warnings: the minimal forwarder tcpcopy is measured against.
    cc -O2 -g -std=c11 -Wall -Wextra -Werror -o "$OUT/floor" "$BENCH_DIR/floor.c" ||
        { echo "bench/run.sh: bench/floor.c does not build" >&2; exit 1; }
    export FLOOR_BIN=$OUT/floor
fi
if [[ " ${scen[*]} " == *" bulk "* ]]; then
    head -c $((${BULK_MB:-200} * 1000000)) /dev/urandom >"$OUT/body.bin"
    export BENCH_BODY=$OUT/body.bin
fi

failed=0
specs=()
for s in "${scen[@]}"; do
    files=""
    for ((r = 1; r <= REPEATS; r++)); do
        kvf="$OUT/$s-$r.kv" logf="$OUT/$s-$r.log"
        say "$s: run $r/$REPEATS"
        rc=0
        BENCH_RUN=$r timeout -k 15 "$RUN_TIMEOUT" bash "$BENCH_DIR/scenario.sh" "$s" "$kvf" >"$logf" 2>&1 || rc=$?
        if [ "$rc" -ne 0 ] || ! grep -q '^complete=yes$' "$kvf" 2>/dev/null; then
            failed=$((failed + 1))
            say "$s: run $r FAILED (status $rc), log $logf:"
            grep -E 'FAIL|rror' "$logf" | tail -n 5 >&2 || true
        else
            say "$s: run $r: $(grep -E '^(online|reproduced|ratio|load_rps|ceiling|cpu10k|mbps|bytes_per_session|lat_p50_ms|lat_p99_ms|floor_x|fanin_scale|p_cpu10k|m_cpu10k|cmp_x|cmp_share|capture_s|replay_s|x_realtime|sessions_per_s)=' "$kvf" | tr '\n' ' ')"
            [ -n "${BENCH_KEEP:-}" ] || rm -f "$logf"
        fi
        files+="$kvf,"
    done
    specs+=("$s:$REPEATS:$files")
done

echo
"$PY" "$BENCH_DIR/benchlib.py" summary --csv "$CSV" --machine "$machine" --commit "$commit" \
    --date "$date" "${specs[@]}"
echo
say "appended to $CSV"
if [ "$failed" -gt 0 ] || [ -n "${BENCH_KEEP:-}" ]; then
    say "$failed failed run(s); logs kept in $OUT"
else
    rm -rf "$OUT"
fi
