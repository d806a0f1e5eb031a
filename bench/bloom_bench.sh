#!/usr/bin/env bash
# CLK encoding records/s (vector schemas, library level, with and without the
# token cache) and Dice comparisons/s per core for every popcount kernel this
# CPU supports (all pairs in cache, thresholded scan, blocks of 32), plus
# the CLI's end-to-end encode rate on synthetic people.
# With BASE=<binary>, each CLI encode is also run with that binary,
# alternating, and the CPU-time ratio new/base printed (paired before/after).
# Usage: bench/bloom_bench.sh [ROWS]   (CLI encode rows, default 1000000;
#        CLI_ONLY=1 skips the library benchmarks, SKIP_BUILD=1 the build,
#        REPS=n paired repetitions, default 3)
set -euo pipefail
cd "$(dirname "$0")/.."
ROWS=${1:-1000000}
echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores;" \
  "features: $(grep -o 'avx512_vpopcntdq\|avx2\|popcnt' /proc/cpuinfo | sort -u | xargs); load $(cut -d' ' -f1-3 /proc/loadavg)"
[ -n "${CLI_ONLY:-}" ] || cargo bench -q -p bloom --bench bloom_bench 2>/dev/null
[ -n "${SKIP_BUILD:-}" ] || cargo build --release -q -p trialink-cli
T=${TRIALINK:-target/release/trialink}
BASE=${BASE:-}
REPS=${REPS:-3}
W=bench/out/bloom_bench
mkdir -p "$W"
if [ ! -f "$W/synth/cohort.csv" ]; then
  $T synth --people "$ROWS" --seed 5 --out "$W/synth" >/dev/null 2>&1
fi
printf 'bench-secret\n' > "$W/secret.txt"
n=$(($(wc -l < "$W/synth/cohort.csv") - 1))
# The CLI end to end (read CSV, validate, encode, write, digests, manifest):
# the 5-field schema with its 4 keyed blocking passes, then without them.
encode() { # binary blocking -> "wall cpu rss"
  rm -f "$W"/cohort.clk.csv*
  local extra=""; [ "$2" = without ] && extra="--no-blocking"
  /usr/bin/time -f "%e %U %S %M" -o "$W/time.txt" "$1" encode --schema fixtures/linkage/schema.json --secret-file "$W/secret.txt" \
    --input "$W/synth/cohort.csv" --output "$W/cohort.clk.csv" $extra 2>/dev/null
  read -r wall user sys rss < "$W/time.txt"
  python3 -c "print($wall, $user + $sys, $rss)"
}
for blocking in with without; do
  read -r wall cpu rss <<< "$(encode "$T" $blocking)"
  python3 -c "print('cli_encode[fixtures/linkage/schema.json, 5 fields, $blocking blocking keys] %d rows: %.0f records/s wall, %.0f records per CPU-second (%.2f s wall, %.2f s CPU), peak RSS %d MiB' % ($n, $n/$wall, $n/$cpu, $wall, $cpu, $rss/1024))"
  if [ -n "$BASE" ]; then
    new=0; base=0
    for _ in $(seq "$REPS"); do
      read -r _ c _ <<< "$(encode "$BASE" $blocking)"; base=$(python3 -c "print($base + $c)")
      read -r _ c _ <<< "$(encode "$T" $blocking)"; new=$(python3 -c "print($new + $c)")
    done
    python3 -c "print('  paired, $REPS alternating runs each: CPU new %.2f s vs base %.2f s = %.3fx ($BASE)' % ($new, $base, $new/$base))"
  fi
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
