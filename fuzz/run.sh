#!/usr/bin/env bash
# Run one libFuzzer harness: first every saved regression input of its target
# (tests/data/fuzz-regressions/<target>/), then fuzzing from the committed corpus for a
# bounded time. New inputs go to a scratch directory so the committed corpus stays small.
set -eu
bin=$1 corpus=$2 secs=${3:-60}
target=$(basename "$corpus")
regress=$(cd "$(dirname "$0")/.." && pwd)/tests/data/fuzz-regressions/$target
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
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
"$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="$scratch/" "$scratch" "$corpus"
