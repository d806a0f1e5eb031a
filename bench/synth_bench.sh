#!/usr/bin/env bash
# Benchmark `trialink synth`: time to write a population of N people (default
# 1,000,000) with all its files, and peak memory. Target: 1M in under 10 s.
#
#   bench/synth_bench.sh [PEOPLE] [SEED]
#
# Output goes to bench/out/synth_<PEOPLE> (git-ignored) and is removed after.
set -euo pipefail
cd "$(dirname "$0")/.."
people="${1:-1000000}"
seed="${2:-1}"
out="bench/out/synth_${people}"

cargo build --release -q -p trialink-cli
bin=target/release/trialink
rm -rf "$out"
mkdir -p bench/out

timefile=$(mktemp)
start=$(date +%s.%N)
if [ -x /usr/bin/time ]; then
  /usr/bin/time -f '%M' -o "$timefile" "$bin" synth --people "$people" --seed "$seed" --out "$out"
else
  "$bin" synth --people "$people" --seed "$seed" --out "$out"
fi
end=$(date +%s.%N)

secs=$(echo "$end - $start" | bc -l)
bytes=$(du -cb "$out"/*.csv | tail -1 | cut -f1)
registry=$(($(wc -l < "$out/registry.csv") - 1))
printf 'synth bench: %d people (+%d registry rows) in %.2f s = %.0f people/s, %.0f MB written' \
  "$people" "$registry" "$secs" "$(echo "$people / $secs" | bc -l)" "$(echo "$bytes / 1000000" | bc -l)"
if [ -s "$timefile" ]; then
  printf ', peak RSS %.0f MB' "$(echo "$(cat "$timefile") / 1024" | bc -l)"
fi
printf ' (target: 1,000,000 in < 10 s)\n'
rm -f "$timefile"
rm -rf "$out"
