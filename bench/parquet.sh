#!/usr/bin/env bash
# Parquet against CSV end to end: `trialink pseudonymise` and `encode` on the
# same ROWS rows as CSV in/CSV out and as Parquet in/Parquet out (wall and
# CPU seconds, file sizes), with target/release/trialink built with
# `--features parquet` (unless SKIP_BUILD=1).
#
#   bench/parquet.sh [ROWS]         (default 2,000,000)
set -euo pipefail
cd "$(dirname "$0")/.."
ROWS=${1:-2000000}
OUT=bench/out/parquet
mkdir -p "$OUT"
VENV=${VENV:-target/venv}
if [ -z "${SKIP_BUILD:-}" ]; then
  cargo build --release -q -p trialink-cli --features parquet
fi
T=${TRIALINK:-target/release/trialink}
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
$T synth --people "$ROWS" --seed 3 --out "$W/synth" --registry-fraction 0 --qa-seeds 0 >/dev/null 2>&1
$T keys generate --out "$W/m.key" >/dev/null 2>&1
$T keys derive --from "$W/m.key" --scope registry:bench --out "$W/k.key" >/dev/null 2>&1
# The same table as Parquet, written by trialink itself (string columns, Snappy).
$T pseudonymise --key "$W/k.key" --input "$W/synth/cohort.csv" --output "$W/probe.parquet" --as-of 2026-01-01 >/dev/null 2>&1 \
  || { echo "this trialink has no Parquet support"; exit 1; }
"${PYTHON:-$VENV/bin/python}" -c "
import sys, pyarrow as pa, pyarrow.csv as c, pyarrow.parquet as pq
p = sys.argv[1]; names = open(p).readline().strip().split(',')
t = c.read_csv(p, convert_options=c.ConvertOptions(column_types={n: pa.string() for n in names}))
pq.write_table(t, sys.argv[2], row_group_size=65536, compression='snappy')" "$W/synth/cohort.csv" "$W/cohort.parquet"
run() { /usr/bin/time -f "%e %U %S" "$@" 2>&1 >/dev/null | tail -1; }
{
echo "rows: $ROWS"
printf "input bytes: CSV %s, Parquet %s\n" "$(stat -c %s "$W/synth/cohort.csv")" "$(stat -c %s "$W/cohort.parquet")"
for fmt in csv parquet; do
  in="$W/synth/cohort.csv"; [ $fmt = parquet ] && in="$W/cohort.parquet"
  read -r e u s < <(run $T pseudonymise --key "$W/k.key" --input "$in" --output "$W/tok.$fmt" --as-of 2026-01-01)
  printf "pseudonymise %-8s wall %6.2f s  CPU %6.2f s  output %s bytes\n" "$fmt" "$e" "$(awk "BEGIN{print $u+$s}")" "$(stat -c %s "$W/tok.$fmt")"
  read -r e u s < <(run $T encode --schema fixtures/linkage/schema.json --key "$W/k.key" --input "$in" --output "$W/clk.$fmt")
  printf "encode       %-8s wall %6.2f s  CPU %6.2f s  output %s bytes\n" "$fmt" "$e" "$(awk "BEGIN{print $u+$s}")" "$(stat -c %s "$W/clk.$fmt")"
done
} | tee "$OUT/result.txt"
