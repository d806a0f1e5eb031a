#!/usr/bin/env bash
# Benchmark `trialink synth uptake`: simulate feedback for a large postal batch
# (every other member of a synthetic cohort, two arms) and print the time and
# the number of feedback rows. Useful to make inputs for the `uptake` bench.
#
#   bench/synth_uptake_bench.sh [PEOPLE] [RATE]
#
# Output goes to bench/out/synth_uptake (git-ignored) and is removed after.
set -euo pipefail
cd "$(dirname "$0")/.."
people="${1:-1000000}"
rate="${2:-0.5}"
out="bench/out/synth_uptake"

cargo build --release -q -p trialink-cli
bin=target/release/trialink
rm -rf "$out"
mkdir -p "$out"

"$bin" synth --people "$people" --seed 1 --out "$out/pop" 2>/dev/null
# A postal batch as `invite` writes it (the cohort has no quoted fields, so awk
# can cut it): reference, template, given_name, family_name, address lines, postcode.
awk -F, 'NR == 1 { print "reference,template,given_name,family_name,address_line_1,address_line_2,address_line_3,address_line_4,address_line_5,postcode"; next }
         NR % 2 == 0 && $7 != "" { n++; printf "00000000-0000-4000-8000-%012d,%s,%s,%s,%s,%s,%s,%s,%s,%s\n", n, (n % 2 ? "letter_a" : "letter_b"), $2, $3, $7, $8, $9, $10, $11, $12 }' \
  "$out/pop/cohort.csv" > "$out/batch.csv"
invitations=$(($(wc -l < "$out/batch.csv") - 1))

start=$(date +%s.%N)
"$bin" synth uptake --batch "$out/batch.csv" --cohort "$out/pop/cohort.csv" --qa-seeds "$out/pop/qa_seeds.csv" \
  --rate "$rate" --seed 7 --out "$out/uptake.csv" 2>/dev/null
end=$(date +%s.%N)
secs=$(echo "$end - $start" | bc -l)
rows=$(($(wc -l < "$out/uptake.csv") - 1))
printf 'synth uptake bench: %d invitations (cohort %d) -> %d feedback rows in %.2f s\n' \
  "$invitations" "$people" "$rows" "$secs"
rm -rf "$out"
