#!/usr/bin/env bash
# Issue 15: throughput of `pseudonymise` and `encode` with trialink's own CSV
# reader (tabular::csvread: quote state at EOF, exact lines, limits checked as
# bytes arrive) against the csv-crate reader of `main`, paired runs.
#
#   bench/csv_reader.sh [ROWS] [PAIRS]     (default 2,000,000 rows, 3 pairs)
#
# BEFORE: a trialink binary built from main (default: builds one from
# `git archive main` into $TMPDIR/trialink-before with its own target dir).
# AFTER: target/release/trialink of this checkout (built unless SKIP_BUILD=1).
# Prints the median seconds of each and the ratio after/before (< 1.05 is the
# issue's bar).
set -euo pipefail
cd "$(dirname "$0")/.."
ROWS=${1:-2000000}
PAIRS=${2:-3}
OUT=bench/out/csv_reader
mkdir -p "$OUT"
T=${TMPDIR:-/tmp}
if [ -z "${SKIP_BUILD:-}" ]; then
  cargo build --release -q -p trialink-cli
fi
AFTER=target/release/trialink
if [ -z "${BEFORE:-}" ]; then
  src="$T/trialink-before/src"
  rm -rf "$src" && mkdir -p "$src"
  git archive main | tar -x -C "$src"
  (cd "$src" && CARGO_TARGET_DIR="$T/trialink-before/target" cargo build --release -q -p trialink-cli)
  BEFORE="$T/trialink-before/target/release/trialink"
fi
IN="$OUT/synth_${ROWS}"
if [ ! -f "$IN/cohort.csv" ]; then
  "$AFTER" synth --people "$ROWS" --out "$IN" --seed 7 --registry-fraction 0 --qa-seeds 0 >/dev/null
fi
# encode's schema wants a `ref` column first: prepend one (no parsing needed).
[ -f "$IN/encode.csv" ] || awk 'NR==1 {print "ref," $0; next} {print "r" NR "," $0}' "$IN/cohort.csv" >"$IN/encode.csv"
KEY="$OUT/bench.key"
[ -f "$KEY" ] || "$AFTER" keys generate --out "$KEY" --scope registry:bench >/dev/null
SCHEMA=fixtures/vectors/clk_schema_blake.json

secs() { /usr/bin/time -f %e "$@" 2>&1 >/dev/null | tail -1; }
run_ps() { rm -f "$OUT/ps.csv"* ; secs "$1" pseudonymise --key "$KEY" --input "$IN/cohort.csv" --output "$OUT/ps.csv" --as-of 2026-01-01 --allow-blank; }
run_enc() { rm -f "$OUT/enc.csv"* ; secs "$1" encode --schema "$SCHEMA" --key "$KEY" --input "$IN/encode.csv" --output "$OUT/enc.csv"; }

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
for cmd in run_ps run_enc; do
  b=(); a=()
  for i in $(seq "$PAIRS"); do
    b+=("$($cmd "$BEFORE")")
    a+=("$($cmd "$AFTER")")
  done
  mb=$(printf '%s\n' "${b[@]}" | median)
  ma=$(printf '%s\n' "${a[@]}" | median)
  name=${cmd#run_}; [ "$name" = ps ] && name=pseudonymise; [ "$name" = enc ] && name=encode
  echo "$name, $ROWS rows: before ${b[*]} s (median $mb), after ${a[*]} s (median $ma), ratio after/before $(awk -v a="$ma" -v b="$mb" 'BEGIN{printf "%.3f", a/b}')"
done
