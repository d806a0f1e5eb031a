#!/usr/bin/env bash
# The Python package against the CLI, per CPU-second: `trialink.pseudonymise`
# and `trialink.encode` over an in-memory Arrow table of ROWS rows (no Python
# loop per row) against `trialink pseudonymise` / `trialink encode` on the
# same rows as CSV (which also parses and writes CSV).
#
#   bench/python.sh [ROWS]          (default 2,000,000)
#
# Builds target/release/trialink (with Parquet) and the extension in release
# mode into the venv target/venv (unless SKIP_BUILD=1). Prints rows per
# CPU-second for each and the ratio CLI/Python (the bar: Python within 1.2x
# of the CLI).
set -euo pipefail
cd "$(dirname "$0")/.."
ROWS=${1:-2000000}
OUT=bench/out/python
mkdir -p "$OUT"
VENV=${VENV:-target/venv}
if [ -z "${SKIP_BUILD:-}" ]; then
  [ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q -r crates/python/requirements-dev.txt
  # With Parquet, so that bench/parquet.sh and bench/spark.sh use the same binary.
  cargo build --release -q -p trialink-cli --features parquet
  (cd crates/python && VIRTUAL_ENV="$PWD/../../$VENV" PATH="$PWD/../../$VENV/bin:$PATH" maturin develop -q --release)
fi
T=${TRIALINK:-target/release/trialink}
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
$T synth --people "$ROWS" --seed 3 --out "$W/synth" --registry-fraction 0 --qa-seeds 0 >/dev/null 2>&1
$T keys generate --out "$W/m.key" >/dev/null 2>&1
$T keys derive --from "$W/m.key" --scope registry:bench --out "$W/k.key" >/dev/null 2>&1
IN="$W/synth/cohort.csv"
cpu() { /usr/bin/time -f "%U %S" "$@" 2>&1 >/dev/null | tail -1 | awk '{print $1+$2}'; }
cli_tok=$(cpu $T pseudonymise --key "$W/k.key" --input "$IN" --output "$W/t.csv" --as-of 2026-01-01 --with-nhs-token)
cli_clk=$(cpu $T encode --schema fixtures/linkage/schema.json --key "$W/k.key" --input "$IN" --output "$W/c.csv")
"$VENV/bin/python" - "$IN" "$W/k.key" "$cli_tok" "$cli_clk" "$ROWS" <<'PY' | tee "$OUT/result.txt"
import sys, time
import pyarrow.csv as pacsv, pyarrow as pa
import trialink
path, key_path, cli_tok, cli_clk, rows = sys.argv[1], sys.argv[2], float(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5])
names = open(path).readline().strip().split(",")
table = pacsv.read_csv(path, convert_options=pacsv.ConvertOptions(column_types={n: pa.string() for n in names}))
key = trialink.Key.load(key_path)
schema = trialink.Schema.load("fixtures/linkage/schema.json")
def cpu(f):
    t0, w0 = time.process_time(), time.perf_counter()
    out = f()
    return time.process_time() - t0, time.perf_counter() - w0, out
py_tok, wall_tok, _ = cpu(lambda: trialink.pseudonymise(table, key, as_of="2026-01-01", with_nhs_token=True))
py_clk, wall_clk, _ = cpu(lambda: trialink.encode(table, schema, key))
n = table.num_rows
print(f"rows: {n}")
print(f"pseudonymise  CLI (CSV in/out): {n/cli_tok:12,.0f} rows/CPU-s   Python (Arrow): {n/py_tok:12,.0f} rows/CPU-s  ({wall_tok:.2f} s wall)  Python CPU / CLI CPU {py_tok/cli_tok:.2f}")
print(f"encode        CLI (CSV in/out): {n/cli_clk:12,.0f} rows/CPU-s   Python (Arrow): {n/py_clk:12,.0f} rows/CPU-s  ({wall_clk:.2f} s wall)  Python CPU / CLI CPU {py_clk/cli_clk:.2f}")
PY
