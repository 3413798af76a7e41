#!/usr/bin/env bash
# Build and test everything, the way CI does (as root: the lab scenarios need namespaces).
#   unit      debug build (-Werror) in build/debug, ctest -L unit
#   lab       the same build, ctest -L lab (network-namespace scenarios, tests/lab); not
#             in the default stages, since asan runs the lab scenarios already
#   asan      AddressSanitizer + UBSan build in build/asan, unit and lab tests
#   fuzz      clang libFuzzer build in build/fuzz, each fuzzer for FUZZ_SECONDS (40)
#   valgrind  the unit tests of build/debug under valgrind memcheck
#   static    cppcheck over src/ (any finding fails); scripts/structure.py (file and function
#             lengths, call and include cycles between files)
# Artifacts kept for people: build/fuzz-artifacts/<target>/ (crash inputs) and
#   build/artifacts/compare-report/ (report.html, its DOM and a screenshot from headless
#   Chromium, by tests/lab/test_compare_report.sh; TC_ARTIFACTS moves build/artifacts).
# TC_STAGES selects stages (default: "static unit asan fuzz valgrind"). Every stage runs even when
# an earlier one failed; the exit status is non-zero when any failed. The last line counts
# individual tests across stages: "N passed, N failed". TC_BUILD_ROOT moves the build trees.
set -uo pipefail

cd "$(dirname "$0")/.." || exit 1
SRC=$(pwd)
# The lab runs once, in the sanitizer build: the same scenarios again in the debug build
# would double CI time for little (TC_STAGES=lab runs them there on demand).
STAGES=${TC_STAGES:-static unit asan fuzz valgrind}
FUZZ_SECONDS=${FUZZ_SECONDS:-40}
JOBS=${JOBS:-2}
B=${TC_BUILD_ROOT:-build}   # where the build trees go (build/debug, build/asan, ...)
LOGDIR=$(mktemp -d /tmp/tc-test.XXXXXX)
trap 'rm -rf "$LOGDIR"' EXIT

TOTAL_PASS=0
TOTAL_FAIL=0
SUMMARY=()

has_stage() { [[ " $STAGES " == *" $1 "* ]]; }
say() { printf '\n==== %s ====\n' "$*"; }

# record STAGE PASSED FAILED [NOTE]
record() {
    local st=OK
    [ "$3" -eq 0 ] || st=FAILED
    TOTAL_PASS=$((TOTAL_PASS + $2))
    TOTAL_FAIL=$((TOTAL_FAIL + $3))
    SUMMARY+=("$(printf '%-9s %-6s %3d passed, %3d failed%s' "$1" "$st" "$2" "$3" "${4:+  ($4)}")")
}

# build DIR CMAKE-ARGS...: configure and build, going on past errors so that whatever
# builds can still be tested. Sets BUILT[DIR] to ok, failed (some targets did not build) or
# noconf (configure failed). Output kept in $LOGDIR, its end shown on failure.
declare -A BUILT=()
build() {
    local dir=$1 logf keep=(-k)
    shift
    [ -n "${BUILT[$dir]:-}" ] && return
    logf="$LOGDIR/build-$(basename "$dir").log"
    say "build $dir ($*)"
    if ! cmake -S "$SRC" -B "$dir" "$@" >"$logf" 2>&1; then
        tail -n 40 "$logf"
        echo "configure of $dir FAILED"
        BUILT[$dir]=noconf
        return
    fi
    grep -q '^CMAKE_GENERATOR:INTERNAL=Ninja' "$dir/CMakeCache.txt" && keep=(-k 0)
    if cmake --build "$dir" -j"$JOBS" -- "${keep[@]}" >>"$logf" 2>&1; then
        BUILT[$dir]=ok
        echo "built $dir"
    else
        BUILT[$dir]=failed
        grep -E 'error|Error' "$logf" | tail -n 40
        echo "build of $dir FAILED (some targets missing; testing what was built)"
    fi
}

# stage_ctest STAGE DIR CTEST-ARGS...: after build(): run ctest unless configure failed; a
# failed build counts as one more failure.
stage_ctest() {
    local stage=$1 dir=$2
    case ${BUILT[$dir]} in
    noconf) record "$stage" 0 1 "configure failed"; return ;;
    failed) BUILD_NOTE="build failed" ;;
    *) BUILD_NOTE="" ;;
    esac
    run_ctest "$@"
}

# run_ctest STAGE DIR CTEST-ARGS...: run ctest, count its tests, record the stage.
BUILD_NOTE=""
run_ctest() {
    local stage=$1 dir=$2 logf pass fail total line
    shift 2
    logf="$LOGDIR/ctest-$stage.log"
    say "$stage: ctest $*"
    ctest --test-dir "$dir" --output-on-failure "$@" 2>&1 | tee "$logf"
    line=$(grep -E '[0-9]+% tests passed, [0-9]+ tests? failed out of [0-9]+' "$logf" | tail -n 1)
    if [ -n "$line" ]; then
        fail=$(sed -E 's/.* ([0-9]+) tests? failed out of ([0-9]+).*/\1/' <<<"$line")
        total=$(sed -E 's/.* failed out of ([0-9]+).*/\1/' <<<"$line")
        pass=$((total - fail))
    elif grep -q 'No tests were found' "$logf"; then
        pass=0 fail=0
    else
        pass=0 fail=1
    fi
    if [ -n "${BUILD_NOTE:-}" ]; then
        fail=$((fail + 1))
    fi
    record "$stage" "$pass" "$fail" "$BUILD_NOTE"
    BUILD_NOTE=""
}

./scripts/deps.sh || { echo "deps.sh failed"; exit 1; }

DEBUG_ARGS=(-DCMAKE_BUILD_TYPE=Debug -DTC_WERROR=ON)

if has_stage static; then
    say "static: cppcheck src/"
    # sys/queue.h is included explicitly: without its macros cppcheck misreads the list
    # loops. Every finding fails the stage; a justified exception is an inline
    # "cppcheck-suppress" comment at the line.
    if cppcheck --error-exitcode=1 --enable=warning,performance,portability --inline-suppr \
        --quiet --std=c11 -D_GNU_SOURCE -Isrc -Isrc/tcpcopy -Isrc/intercept \
        --include=/usr/include/x86_64-linux-gnu/sys/queue.h \
        --suppress=missingIncludeSystem src; then
        record static 1 0
    else
        record static 0 1 "cppcheck findings"
    fi
    say "static: structure of src/"
    if python3 scripts/structure.py src; then
        record static 1 0
    else
        record static 0 1 "structure"
    fi
fi

if has_stage unit; then
    build "$B/debug" "${DEBUG_ARGS[@]}"
    stage_ctest unit "$B/debug" -L unit -j"$JOBS"
fi

if has_stage lab; then
    build "$B/debug" "${DEBUG_ARGS[@]}"
    stage_ctest lab "$B/debug" -L lab
fi

if has_stage asan; then
    build "$B/asan" -DCMAKE_BUILD_TYPE=Debug -DTC_WERROR=ON -DTC_SANITIZE=ON
    ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1} \
        UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1} \
        stage_ctest asan "$B/asan" -L 'unit|lab'
fi

if has_stage fuzz; then
    CC=clang build "$B/fuzz" -DCMAKE_BUILD_TYPE=Debug -DTC_FUZZ=ON \
        -DTC_FUZZ_SECONDS="$FUZZ_SECONDS"
    stage_ctest fuzz "$B/fuzz" -L fuzz -j"$JOBS"
fi

if has_stage valgrind; then
    say "valgrind: unit tests under memcheck"
    build "$B/debug" "${DEBUG_ARGS[@]}"
    if [ "${BUILT[$B/debug]}" != noconf ]; then
        # The unit tests' commands and environments, from ctest itself.
        ctest --test-dir "$B/debug" -L unit --show-only=json-v1 >"$LOGDIR/tests.json"
        python3 - "$LOGDIR/tests.json" >"$LOGDIR/tests.tsv" <<'PY'
import json, sys
for t in json.load(open(sys.argv[1])).get("tests", []):
    env = []
    for p in t.get("properties", []):
        if p.get("name") == "ENVIRONMENT":
            env = p.get("value", [])
    # \x1f between fields, \x1e between list items: neither is whitespace, so empty fields
    # survive `read`.
    print("\x1f".join([t["name"], "\x1e".join(env), "\x1e".join(t.get("command", []))]))
PY
        vp=0 vf=0
        while IFS=$'\x1f' read -r name envs cmd; do
            [ -n "$name" ] || continue
            envv=() cmdv=()
            [ -z "$envs" ] || IFS=$'\x1e' read -r -a envv <<<"$envs"
            IFS=$'\x1e' read -r -a cmdv <<<"$cmd"
            if timeout 600 env "${envv[@]}" valgrind -q --error-exitcode=99 --leak-check=full \
                --errors-for-leak-kinds=definite,indirect --show-leak-kinds=definite,indirect \
                "${cmdv[@]}" >"$LOGDIR/vg.log" 2>&1; then
                vp=$((vp + 1))
                echo "valgrind $name: ok"
            else
                vf=$((vf + 1))
                tail -n 40 "$LOGDIR/vg.log"
                echo "valgrind $name: FAILED"
            fi
        done <"$LOGDIR/tests.tsv"
        note=""
        [ $((vp + vf)) -gt 0 ] || note="no tests"
        if [ "${BUILT[$B/debug]}" = failed ]; then
            vf=$((vf + 1))
            note="build failed"
        fi
        record valgrind "$vp" "$vf" "$note"
    else
        record valgrind 0 1 "configure failed"
    fi
fi

say summary
for s in "${SUMMARY[@]}"; do
    echo "$s"
done
echo "$TOTAL_PASS passed, $TOTAL_FAIL failed"
[ "$TOTAL_FAIL" -eq 0 ] && [ "${#SUMMARY[@]}" -gt 0 ]
