#!/usr/bin/env bash
# Run one libFuzzer harness from its committed corpus for a bounded time.
# New inputs go to a scratch directory so the committed corpus stays small.
set -eu
bin=$1 corpus=$2 secs=${3:-60}
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
mkdir -p "$corpus"
"$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="$scratch/" "$scratch" "$corpus"
