#!/usr/bin/env bash
# Pseudonymisation throughput vs the csv crate's read+write ceiling, and peak
# memory. Usage: bench/pseudonymise.sh [ROWS]   (default 2,000,000)
set -euo pipefail
cd "$(dirname "$0")/.."
ROWS=${1:-2000000}
OUT=bench/out
mkdir -p "$OUT"
[ -n "${SKIP_BUILD:-}" ] || cargo build --release -q -p trialink-cli -p tabular --example csv_copy
BIN=target/release/trialink
IN="$OUT/people_${ROWS}.csv"
if [ ! -f "$IN" ]; then
  echo "making $ROWS synthetic rows (5 columns, never-issued 9xx NHS numbers)..."
  python3 - "$ROWS" "$IN" <<'PY'
import sys, random
n, path = int(sys.argv[1]), sys.argv[2]
random.seed(1)
W = [10, 9, 8, 7, 6, 5, 4, 3, 2]
out = open(path, "w")
out.write("person_ref,nhs_number,date_of_birth,sex,postcode_district\n")
base = 900000000
i = 0; k = 0
buf = []
while i < n:
    n9 = base + k; k += 1
    d = str(n9)
    s = sum(int(c) * w for c, w in zip(d, W))
    c = 11 - s % 11
    if c == 10: continue
    if c == 11: c = 0
    y = 1930 + (k * 7) % 75; m = 1 + (k * 5) % 12; dd = 1 + (k * 3) % 28
    buf.append(f"P{i:08d},{d}{c},{y:04d}-{m:02d}-{dd:02d},{'FM'[k & 1]},LS{k % 30}\n")
    i += 1
    if len(buf) >= 100000:
        out.write("".join(buf)); buf = []
out.write("".join(buf))
PY
fi
rm -f "$OUT/copy.csv" "$OUT/tokens.csv" "$OUT"/tokens.csv.* "$OUT/bench.key"
$BIN keys generate --out "$OUT/bench.key" --scope registry:bench >/dev/null 2>&1
echo "== ceiling: csv crate read + write"
target/release/examples/csv_copy "$IN" "$OUT/copy.csv"
run() { # label, extra args...
  local label=$1; shift
  rm -f "$OUT/tokens.csv" "$OUT"/tokens.csv.*
  /usr/bin/time -v $BIN pseudonymise --key "$OUT/bench.key" --input "$IN" --output "$OUT/tokens.csv" \
    --as-of 2026-11-21 "$@" 2> "$OUT/time.txt" || { cat "$OUT/time.txt"; exit 1; }
  local secs rss user sys rows
  secs=$(grep "Elapsed (wall clock)" "$OUT/time.txt" | awk '{print $NF}' | awk -F: '{ if (NF==3) print $1*3600+$2*60+$3; else print $1*60+$2 }')
  rss=$(grep "Maximum resident set size" "$OUT/time.txt" | awk '{print $NF}')
  user=$(grep "User time" "$OUT/time.txt" | awk '{print $NF}')
  sys=$(grep "System time" "$OUT/time.txt" | awk '{print $NF}')
  rows=$(python3 -c "import json;print(json.load(open('$OUT/tokens.csv.manifest.json'))['rows']['out'])")
  python3 -c "print(f'pseudonymise [$label]: {$rows} rows in {$secs:.3f} s wall = {$rows/$secs:,.0f} rows/s; CPU {$user}+{$sys} s = {$rows/($user+$sys):,.0f} rows per CPU-second; peak RSS {$rss/1024:.1f} MB')"
}
echo "== trialink pseudonymise (output fsynced before the rename)"
run "token only"
run "token + nhs_token + kept column" --with-nhs-token --keep person_ref
echo "(load average: $(cut -d' ' -f1-3 /proc/loadavg); other processes share these 2 cores)"
