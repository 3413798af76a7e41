#!/usr/bin/env bash
# Run one libFuzzer harness: first every saved regression input of its target
# (tests/data/fuzz-regressions/<target>/), then fuzzing from the committed corpus for a
# bounded time. New inputs go to a scratch directory so the committed corpus stays small.
# An input that crashes the harness is kept in TC_FUZZ_ARTIFACTS (default
# build/fuzz-artifacts/<target>/) and printed in base64, so a CI log alone can reproduce it:
#   base64 -d > crash && ./build/fuzz/fuzz_<target> crash
set -eu
bin=$1 corpus=$2 secs=${3:-60}
target=$(basename "$corpus")
root=$(cd "$(dirname "$0")/.." && pwd)
regress=$root/tests/data/fuzz-regressions/$target
artifacts=${TC_FUZZ_ARTIFACTS:-$root/build/fuzz-artifacts}/$target
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
mkdir -p "$artifacts"

# show_artifacts: print each crash input kept for this target (at most 64 KB of each).
show_artifacts() {
    local f
    for f in "$artifacts"/*; do
        [ -f "$f" ] || continue
        echo "fuzz: crash input kept: $f ($(stat -c %s "$f") bytes), base64:"
        head -c 65536 "$f" | base64 -w 100
    done
}
mkdir -p "$corpus"
if [ -d "$regress" ]; then
    inputs=()
    for f in "$regress"/*; do
        case $f in *.md | *.txt) continue ;; esac
        [ -f "$f" ] && inputs+=("$f")
    done
    if [ "${#inputs[@]}" -gt 0 ]; then
        echo "replaying ${#inputs[@]} regression input(s) from $regress"
        "$bin" -timeout=10 -rss_limit_mb=2048 "${inputs[@]}"
    fi
fi
if ! "$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="$artifacts/" "$scratch" "$corpus"; then
    show_artifacts
    exit 1
fi
