#!/usr/bin/env bash
# The row engine moved from the CLI into the libraries (tabular's ordered
# pipeline, bloom's RowEncoder, pseudonym's TokenRows): paired before/after
# runs of the commands the benches in bench/ time — csv_reader.sh's
# pseudonymise and encode, bloom_bench.sh's CLI encode (with and without
# blocking keys), pseudonymise.sh's two variants — alternating binaries so
# both see the same load. Prints each median and the ratio after/before
# (the bar is < 1.05), for wall-clock seconds and for CPU seconds (user +
# system, less sensitive to other load on a shared machine).
#
#   BEFORE=/tmp/trialink-base/trialink bench/thin_cli_paired.sh [ROWS] [PAIRS]
#
# ROWS (default 1,000,000) people for every input; PAIRS (default 5).
# AFTER: target/release/trialink of this checkout (built unless SKIP_BUILD=1).
set -euo pipefail
cd "$(dirname "$0")/.."
ROWS=${1:-1000000}
PAIRS=${2:-5}
BEFORE=${BEFORE:-/tmp/trialink-base/trialink}
OUT=bench/out/thin_cli
mkdir -p "$OUT"
[ -n "${SKIP_BUILD:-}" ] || cargo build --release -q -p trialink-cli
AFTER=target/release/trialink
IN="$OUT/synth_$ROWS"
[ -f "$IN/cohort.csv" ] || "$AFTER" synth --people "$ROWS" --out "$IN" --seed 7 --registry-fraction 0 --qa-seeds 0 >/dev/null
[ -f "$IN/encode.csv" ] || awk 'NR==1 {print "ref," $0; next} {print "r" NR "," $0}' "$IN/cohort.csv" >"$IN/encode.csv"
KEY="$OUT/bench.key"
[ -f "$KEY" ] || "$AFTER" keys generate --out "$KEY" --scope registry:bench >/dev/null 2>&1
printf 'bench-secret\n' >"$OUT/secret.txt"

# "wall cpu" seconds of one run.
secs() { rm -f "$OUT"/o.csv*; /usr/bin/time -f '%e %U %S' "$@" 2>&1 >/dev/null | tail -1 | awk '{printf "%s %.2f\n", $1, $2 + $3}'; }
ps_blank() { secs "$1" pseudonymise --key "$KEY" --input "$IN/cohort.csv" --output "$OUT/o.csv" --as-of 2026-01-01 --allow-blank; }
ps_nhs_keep() { secs "$1" pseudonymise --key "$KEY" --input "$IN/encode.csv" --output "$OUT/o.csv" --as-of 2026-11-21 --allow-blank --with-nhs-token --keep ref; }
enc_vector() { secs "$1" encode --schema fixtures/vectors/clk_schema_blake.json --key "$KEY" --input "$IN/encode.csv" --output "$OUT/o.csv"; }
enc_blocking() { secs "$1" encode --schema fixtures/linkage/schema.json --secret-file "$OUT/secret.txt" --input "$IN/cohort.csv" --output "$OUT/o.csv"; }
enc_no_blocking() { secs "$1" encode --schema fixtures/linkage/schema.json --secret-file "$OUT/secret.txt" --input "$IN/cohort.csv" --output "$OUT/o.csv" --no-blocking; }

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
echo "rows $ROWS, pairs $PAIRS, before $BEFORE, after $AFTER; load $(cut -d' ' -f1-3 /proc/loadavg)"
ratio() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%.3f", a/b}'; }
for cmd in ps_blank ps_nhs_keep enc_vector enc_blocking enc_no_blocking; do
  b=(); a=()
  for i in $(seq "$PAIRS"); do
    if [ $((i % 2)) = 1 ]; then b+=("$($cmd "$BEFORE")"); a+=("$($cmd "$AFTER")");
    else a+=("$($cmd "$AFTER")"); b+=("$($cmd "$BEFORE")"); fi
  done
  bw=$(printf '%s\n' "${b[@]}" | cut -d' ' -f1); aw=$(printf '%s\n' "${a[@]}" | cut -d' ' -f1)
  mbw=$(echo "$bw" | median); maw=$(echo "$aw" | median)
  mbc=$(printf '%s\n' "${b[@]}" | cut -d' ' -f2 | median); mac=$(printf '%s\n' "${a[@]}" | cut -d' ' -f2 | median)
  echo "$cmd: wall before $(echo $bw) s (median $mbw), after $(echo $aw) s (median $maw), ratio $(ratio "$maw" "$mbw"); cpu median before $mbc s, after $mac s, ratio $(ratio "$mac" "$mbc")"
done
rm -f "$OUT"/o.csv*
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
