#!/usr/bin/env bash
# Parquet against CSV end to end, paired in one run: the same synthetic
# cohort (ROWS people) and registry (about 12% of it) through
# `trialink pseudonymise` (cohort), `trialink encode` (cohort and registry)
# and `trialink link` (registry CLKs against cohort CLKs, the default
# fitted model), once as CSV in/CSV out and once as Parquet in/Parquet out.
# Prints wall and CPU seconds per step, output sizes, the totals and the
# Parquet/CSV CPU ratio, and checks both runs found the same matches.
# Uses target/release/trialink built with `--features parquet` (unless
# SKIP_BUILD=1; TRIALINK names another binary).
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
PY=${PYTHON:-$VENV/bin/python}
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
$T synth --people "$ROWS" --seed 3 --out "$W/synth" --qa-seeds 0 >/dev/null 2>&1
$T keys generate --out "$W/m.key" >/dev/null 2>&1
$T keys derive --from "$W/m.key" --scope registry:bench --out "$W/k.key" >/dev/null 2>&1
$T pseudonymise --key "$W/k.key" --input "$W/synth/registry.csv" --output "$W/probe.parquet" --as-of 2026-01-01 >/dev/null 2>&1 \
  || { echo "this trialink has no Parquet support"; exit 1; }
# The same tables as Parquet (string columns, Snappy, 65,536-row groups).
"$PY" -c "
import sys, pyarrow as pa, pyarrow.csv as c, pyarrow.parquet as pq
for side in ('cohort', 'registry'):
    p = f'{sys.argv[1]}/synth/{side}.csv'; names = open(p).readline().strip().split(',')
    t = c.read_csv(p, convert_options=c.ConvertOptions(column_types={n: pa.string() for n in names}))
    pq.write_table(t, f'{sys.argv[1]}/{side}.parquet', row_group_size=65536, compression='snappy')" "$W"
run() { /usr/bin/time -f "%e %U %S" "$@" 2>&1 >/dev/null | tail -1; }
step() { # name fmt output command...
  local name=$1 fmt=$2 out=$3; shift 3
  read -r e u s < <(run "$@")
  local c; c=$(awk "BEGIN{print $u+$s}")
  printf "%-22s %-8s wall %7.2f s  CPU %7.2f s  output %11s bytes\n" "$name" "$fmt" "$e" "$c" "$(stat -c %s "$out")"
  echo "$fmt $e $c" >>"$W/totals"
}
{
echo "rows: cohort $(($(wc -l <"$W/synth/cohort.csv") - 1)), registry $(($(wc -l <"$W/synth/registry.csv") - 1)); binary: $T"
printf "input bytes: cohort CSV %s, Parquet %s; registry CSV %s, Parquet %s\n" \
  "$(stat -c %s "$W/synth/cohort.csv")" "$(stat -c %s "$W/cohort.parquet")" \
  "$(stat -c %s "$W/synth/registry.csv")" "$(stat -c %s "$W/registry.parquet")"
for fmt in csv parquet; do
  if [ $fmt = parquet ]; then coh="$W/cohort.parquet"; reg="$W/registry.parquet"
  else coh="$W/synth/cohort.csv"; reg="$W/synth/registry.csv"; fi
  step "pseudonymise cohort" $fmt "$W/tok.$fmt" \
    $T pseudonymise --key "$W/k.key" --input "$coh" --output "$W/tok.$fmt" --as-of 2026-01-01
  step "encode cohort" $fmt "$W/clk.cohort.$fmt" \
    $T encode --schema fixtures/linkage/schema.json --key "$W/k.key" --input "$coh" --output "$W/clk.cohort.$fmt"
  step "encode registry" $fmt "$W/clk.registry.$fmt" \
    $T encode --schema fixtures/linkage/schema.json --key "$W/k.key" --input "$reg" --output "$W/clk.registry.$fmt"
  step "link registry×cohort" $fmt "$W/links.$fmt" \
    $T link --left "$W/clk.registry.$fmt" --right "$W/clk.cohort.$fmt" --output "$W/links.$fmt"
done
awk '{w[$1]+=$2; c[$1]+=$3} END {
  printf "total end to end       csv      wall %7.2f s  CPU %7.2f s\n", w["csv"], c["csv"];
  printf "total end to end       parquet  wall %7.2f s  CPU %7.2f s\n", w["parquet"], c["parquet"];
  printf "Parquet / CSV: CPU %.2f, wall %.2f\n", c["parquet"]/c["csv"], w["parquet"]/w["csv"] }' "$W/totals"
"$PY" -c "
import sys, pyarrow.csv as c, pyarrow.parquet as pq, pyarrow as pa
a = c.read_csv(sys.argv[1], convert_options=c.ConvertOptions(column_types={n: pa.string() for n in ['left','right','method','score','probability','evidence']}))
b = pq.read_table(sys.argv[2])
print(f'matches: CSV {a.num_rows}, Parquet {b.num_rows}; identical: {a.to_pydict() == b.to_pydict()}')" "$W/links.csv" "$W/links.parquet"
} | tee "$OUT/result.txt"
