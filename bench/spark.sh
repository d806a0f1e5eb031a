#!/usr/bin/env bash
# trialink on Spark local[2] against the CLI on the same 2 cores:
# tokenisation (pseudonymise) of ROWS rows, and blocked linkage of a
# registry against a cohort (`trialink.spark.link` against
# `trialink link --threshold 0.85`), wall seconds, with the matches compared.
#
#   bench/spark.sh [ROWS] [PEOPLE]   (default 1,000,000 rows; 200,000 people to link)
#
# 1M x 1M linkage is scaled down to PEOPLE (the cohort; the registry is
# about 12% of it) because a local[2] Spark shuffle of 1M x 1M blocking
# keys does not finish in reasonable time on 2 shared cores; docs/scaling.md
# projects the rates to a cluster. Needs target/release/trialink and the
# extension in target/venv (bench/python.sh builds both; SKIP_BUILD=1 skips).
set -euo pipefail
cd "$(dirname "$0")/.."
ROWS=${1:-1000000}
PEOPLE=${2:-200000}
OUT=bench/out/spark
mkdir -p "$OUT"
VENV=${VENV:-target/venv}
if [ -z "${SKIP_BUILD:-}" ]; then
  SKIP_BUILD= bench/python.sh 1000 >/dev/null
fi
T=${TRIALINK:-target/release/trialink}
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
$T keys generate --out "$W/m.key" >/dev/null 2>&1
$T keys derive --from "$W/m.key" --scope registry:bench --out "$W/k.key" >/dev/null 2>&1
$T synth --people "$ROWS" --seed 4 --out "$W/tok" --registry-fraction 0 --qa-seeds 0 >/dev/null 2>&1
$T synth --people "$PEOPLE" --seed 5 --out "$W/link" >/dev/null 2>&1
wall() { /usr/bin/time -f "%e" "$@" 2>&1 >/dev/null | tail -1; }
cli_tok=$(wall $T pseudonymise --key "$W/k.key" --input "$W/tok/cohort.csv" --output "$W/tok.csv" --as-of 2026-01-01)
export SPARK_LOCAL_IP=127.0.0.1 PYSPARK_PYTHON="$VENV/bin/python" PYSPARK_DRIVER_PYTHON="$VENV/bin/python"
"$VENV/bin/python" - "$W" "$cli_tok" "$T" <<'PY' | tee "$OUT/result.txt"
import csv, subprocess, sys, time
import pyarrow as pa, pyarrow.csv as pacsv
from pyspark.sql import SparkSession
import trialink
from trialink import spark as tls
W, cli_tok, T = sys.argv[1], float(sys.argv[2]), sys.argv[3]
def strings(p):
    names = open(p).readline().strip().split(",")
    return pacsv.read_csv(p, convert_options=pacsv.ConvertOptions(column_types={n: pa.string() for n in names}))
spark = (SparkSession.builder.master("local[2]").config("spark.sql.shuffle.partitions", "8")
         .config("spark.driver.memory", "6g").config("spark.ui.enabled", "false").config("spark.ui.showConsoleProgress", "false")
         .config("spark.driver.host", "127.0.0.1").config("spark.driver.bindAddress", "127.0.0.1").getOrCreate())
spark.sparkContext.setLogLevel("ERROR")
src = strings(f"{W}/tok/cohort.csv")
df = spark.createDataFrame(src).repartition(8).cache(); df.count()
t0 = time.perf_counter()
n = tls.pseudonymise(df, f"{W}/k.key", as_of="2026-01-01").where("reject is null").count()
sp_tok = time.perf_counter() - t0
print(f"tokenise {src.num_rows} rows: CLI {cli_tok:.2f} s, Spark local[2] {sp_tok:.2f} s ({src.num_rows/sp_tok:,.0f} rows/s; {n} tokens)")
# Linkage: combine tokens and CLKs per row (python API), link by CLI and by Spark.
key = trialink.Key.load(f"{W}/k.key"); schema = trialink.Schema.load("fixtures/linkage/schema.json")
sides = {}
for side in ("registry", "cohort"):
    t = strings(f"{W}/link/{side}.csv")
    p = trialink.pseudonymise(t, key, as_of="2026-01-01", with_nhs_token=True)
    c = trialink.encode(t, schema, key)
    sides[side] = pa.table({"token": p["token"], "nhs_token": p["nhs_token"], "clk": c["clk"], "blocking": c["blocking"]})
    pacsv.write_csv(sides[side], f"{W}/{side}.link.csv")
t0 = time.perf_counter()
subprocess.run([T, "link", "--left", f"{W}/registry.link.csv", "--right", f"{W}/cohort.link.csv", "--threshold", "0.85",
                "--output", f"{W}/m.csv"], check=True, capture_output=True)
cli_link = time.perf_counter() - t0
want = [(int(r["left"]) - 1, int(r["right"]) - 1, r["method"]) for r in csv.DictReader(open(f"{W}/m.csv"))]
frames = {s: spark.createDataFrame(t.append_column("row", pa.array(range(t.num_rows), pa.int64()))).repartition(8).cache()
          for s, t in sides.items()}
for f in frames.values(): f.count()
t0 = time.perf_counter()
got = tls.link(frames["registry"], frames["cohort"], id_column="row", threshold=0.85).toArrow()
sp_link = time.perf_counter() - t0
rows = list(zip(got["left"].to_pylist(), got["right"].to_pylist(), got["method"].to_pylist()))
l, r = sides["registry"].num_rows, sides["cohort"].num_rows
print(f"link {l} x {r}: CLI {cli_link:.2f} s, Spark local[2] {sp_link:.2f} s; matches {len(rows)} (CLI {len(want)}), identical: {rows == want}")
PY
