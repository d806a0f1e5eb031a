#!/usr/bin/env bash
# trialink on Spark local[2] against the CLI on the same 2 cores, wall
# seconds, matches compared:
#  1. tokenisation (pseudonymise) of ROWS rows;
#  2. linkage of a registry against a cohort of PEOPLE (registry ≈ cohort:
#     80% of the cohort volunteered, plus 20% outsiders) with the CLI's
#     default decision (the fitted model): `trialink.spark.link` without a
#     threshold (link columns collected to the driver) against `trialink link`;
#  3. the distributed blocked linkage (`trialink.spark.link(threshold=0.85)`:
#     a Spark join on keyed blocking keys, Dice per partition) against
#     `trialink link --threshold 0.85`, on BLOCKED people (default 50,000:
#     its local[2] shuffle grows with the candidate pairs).
#
#   bench/spark.sh [ROWS] [PEOPLE] [BLOCKED]   (default 1,000,000 1,000,000 50,000)
#
# Needs target/release/trialink and the extension in target/venv
# (bench/python.sh builds both; SKIP_BUILD=1 skips). Spark's driver gets
# DRIVER_MEMORY (default 4g; keep it at most ~6g on shared machines).
set -euo pipefail
cd "$(dirname "$0")/.."
ROWS=${1:-1000000}
PEOPLE=${2:-1000000}
BLOCKED=${3:-50000}
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
$T synth --people "$PEOPLE" --seed 5 --out "$W/link" --registry-fraction 0.8 --qa-seeds 0 >/dev/null 2>&1
$T synth --people "$BLOCKED" --seed 6 --out "$W/blocked" --qa-seeds 0 >/dev/null 2>&1
wall() { /usr/bin/time -f "%e" "$@" 2>&1 >/dev/null | tail -1; }
cli_tok=$(wall $T pseudonymise --key "$W/k.key" --input "$W/tok/cohort.csv" --output "$W/tok.csv" --as-of 2026-01-01)
export SPARK_LOCAL_IP=127.0.0.1 PYSPARK_PYTHON="$VENV/bin/python" PYSPARK_DRIVER_PYTHON="$VENV/bin/python"
"$VENV/bin/python" - "$W" "$cli_tok" "$T" "${DRIVER_MEMORY:-4g}" <<'PY' | tee "$OUT/result.txt"
import csv, gc, subprocess, sys, time
import pyarrow as pa, pyarrow.csv as pacsv
from pyspark.sql import SparkSession
import trialink
from trialink import spark as tls
W, cli_tok, T, mem = sys.argv[1], float(sys.argv[2]), sys.argv[3], sys.argv[4]
def strings(p):
    names = open(p).readline().strip().split(",")
    return pacsv.read_csv(p, convert_options=pacsv.ConvertOptions(column_types={n: pa.string() for n in names}))
spark = (SparkSession.builder.master("local[2]").config("spark.sql.shuffle.partitions", "8")
         .config("spark.driver.memory", mem).config("spark.driver.maxResultSize", "0")
         .config("spark.ui.enabled", "false").config("spark.ui.showConsoleProgress", "false")
         .config("spark.driver.host", "127.0.0.1").config("spark.driver.bindAddress", "127.0.0.1").getOrCreate())
spark.sparkContext.setLogLevel("ERROR")
print(f"Spark local[2], driver memory {mem}")
df = spark.read.option("header", True).csv(f"{W}/tok/cohort.csv").repartition(8).cache()
rows = df.count()
t0 = time.perf_counter()
n = tls.pseudonymise(df, f"{W}/k.key", as_of="2026-01-01").where("reject is null").count()
sp_tok = time.perf_counter() - t0
print(f"tokenise {rows} rows: CLI {cli_tok:.2f} s, Spark local[2] {sp_tok:.2f} s "
      f"({rows/sp_tok:,.0f} rows/s, {rows/sp_tok/2:,.0f} per core; {n} tokens)", flush=True)
df.unpersist()
key = trialink.Key.load(f"{W}/k.key"); schema = trialink.Schema.load("fixtures/linkage/schema.json")

def link_inputs(d):
    """token, nhs_token, clk, blocking per input row, as CSV for the CLI."""
    out = {}
    for side in ("registry", "cohort"):
        t = strings(f"{W}/{d}/{side}.csv")
        p = trialink.pseudonymise(t, key, as_of="2026-01-01", with_nhs_token=True)
        c = trialink.encode(t, schema, key)
        out[side] = pa.table({"token": p["token"], "nhs_token": p["nhs_token"], "clk": c["clk"], "blocking": c["blocking"]})
        pacsv.write_csv(out[side], f"{W}/{d}.{side}.link.csv")
    return out

def compare(d, sides, threshold):
    args = ["--threshold", str(threshold)] if threshold else []
    t0 = time.perf_counter()
    subprocess.run([T, "link", "--left", f"{W}/{d}.registry.link.csv", "--right", f"{W}/{d}.cohort.link.csv", *args,
                    "--output", f"{W}/{d}.m.csv"], check=True, capture_output=True)
    cli = time.perf_counter() - t0
    want = [(int(r["left"]) - 1, int(r["right"]) - 1, r["method"]) for r in csv.DictReader(open(f"{W}/{d}.m.csv"))]
    frames = {}
    for s, t in sides.items():
        pacsv.write_csv(t.append_column("row", pa.array(range(t.num_rows), pa.int64())), f"{W}/{d}.{s}.spark.csv")
        frames[s] = spark.read.option("header", True).csv(f"{W}/{d}.{s}.spark.csv").repartition(8).cache()
        frames[s].count()
    t0 = time.perf_counter()
    got = tls.link(frames["registry"], frames["cohort"], id_column="row", threshold=threshold).toArrow()
    sp = time.perf_counter() - t0
    got = got.sort_by([("left", "ascending"), ("right", "ascending")])
    rows = list(zip(got["left"].to_pylist(), got["right"].to_pylist(), got["method"].to_pylist()))
    l, r = sides["registry"].num_rows, sides["cohort"].num_rows
    how = f"--threshold {threshold} (blocked on Spark)" if threshold else "default model (decided on the driver)"
    print(f"link {l} x {r}, {how}: CLI {cli:.2f} s, Spark local[2] {sp:.2f} s "
          f"({r/sp:,.0f} cohort rows/s, {r/sp/2:,.0f} per core); matches {len(rows)} (CLI {len(want)}), "
          f"identical: {rows == want}", flush=True)
    for f in frames.values():
        f.unpersist()

compare("blocked", link_inputs("blocked"), 0.85)
gc.collect()
compare("link", link_inputs("link"), None)
PY
