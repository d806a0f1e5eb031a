#!/usr/bin/env bash
# trialink on Spark local[2] against the CLI on the same 2 cores: wall
# seconds, CPU seconds and peak memory of each, matches compared.
#  1. tokenisation (pseudonymise) and CLKs with blocking keys (encode) of
#     ROWS rows (skipped when ROWS is 0);
#  2. the distributed blocked linkage (`trialink.spark.link(threshold=0.85)`:
#     exact matches by a window over tokens, the blocking items shuffled
#     once so that each block is in one partition, Dice per block in Rust
#     with mapInArrow, 1:1 assignment on the driver) against
#     `trialink link --threshold 0.85`, on a registry ≈ cohort of BLOCKED
#     people (80% of the cohort volunteered, plus 20% outsiders), with the
#     wall seconds of its phases;
#  3. `trialink.spark.link` without a threshold (the CLI's fitted model,
#     link columns collected to the driver) against `trialink link`, on
#     PEOPLE people (skipped when PEOPLE is 0).
#
#   bench/spark.sh [ROWS] [BLOCKED] [PEOPLE]   (default 1,000,000 1,000,000 0)
#
# CPU seconds and peak memory of Spark are of the whole process tree (the
# driver's Python, the JVM and its Python workers), sampled every 0.5 s;
# the CLI's come from /usr/bin/time. Spark's timings start from DataFrames
# already read and cached (the CLI's include reading and writing CSV).
# Needs target/release/trialink and the extension in target/venv
# (bench/python.sh builds both; SKIP_BUILD=1 skips). Spark's driver gets
# DRIVER_MEMORY (default 4g) and SHUFFLE_PARTITIONS (default 16).
set -euo pipefail
cd "$(dirname "$0")/.."
ROWS=${1:-1000000}
BLOCKED=${2:-1000000}
PEOPLE=${3:-0}
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
[ "$ROWS" -gt 0 ] && $T synth --people "$ROWS" --seed 4 --out "$W/tok" --registry-fraction 0 --qa-seeds 0 >/dev/null 2>&1
[ "$BLOCKED" -gt 0 ] && $T synth --people "$BLOCKED" --seed 6 --out "$W/blocked" --registry-fraction 0.8 --qa-seeds 0 >/dev/null 2>&1
[ "$PEOPLE" -gt 0 ] && $T synth --people "$PEOPLE" --seed 5 --out "$W/link" --registry-fraction 0.8 --qa-seeds 0 >/dev/null 2>&1
export SPARK_LOCAL_IP=127.0.0.1 PYSPARK_PYTHON="$VENV/bin/python" PYSPARK_DRIVER_PYTHON="$VENV/bin/python"
echo "load before: $(uptime)" | tee "$OUT/result.txt"
"$VENV/bin/python" - "$W" "$T" "${DRIVER_MEMORY:-4g}" "${SHUFFLE_PARTITIONS:-16}" "$ROWS" "$BLOCKED" "$PEOPLE" <<'PY' | tee -a "$OUT/result.txt"
import csv, gc, os, resource, subprocess, sys, threading, time
import pyarrow as pa, pyarrow.csv as pacsv
from pyspark.sql import SparkSession
import trialink
from trialink import spark as tls
W, T, mem, parts = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
ROWS, BLOCKED, PEOPLE = map(int, sys.argv[5:8])
TICK = os.sysconf("SC_CLK_TCK")

def tree():
    """pid -> (ppid, cpu seconds, rss bytes) of this process and its descendants."""
    procs = {}
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            f = open(f"/proc/{p}/stat").read().rsplit(")", 1)[1].split()
            procs[int(p)] = (int(f[1]), (int(f[11]) + int(f[12])) / TICK, int(f[21]) * os.sysconf("SC_PAGE_SIZE"))
        except (OSError, IndexError):
            pass
    mine, todo = {}, [os.getpid()]
    while todo:
        q = todo.pop()
        if q in procs:
            mine[q] = procs[q]
            todo += [c for c, v in procs.items() if v[0] == q]
    return mine

class Meter:
    """CPU seconds (of live processes of the tree, plus those that ended
    while measured) and peak total RSS of the tree during a block."""
    def __enter__(self):
        self.start = {p: v[1] for p, v in tree().items()}
        self.last, self.peak, self.stop = dict(self.start), 0, False
        def sample():
            while not self.stop:
                t = tree()
                self.peak = max(self.peak, sum(v[2] for v in t.values()))
                for p, v in t.items():
                    self.last[p] = v[1]
                time.sleep(0.5)
        self.th = threading.Thread(target=sample, daemon=True); self.th.start()
        self.t0 = time.perf_counter()
        return self
    def __exit__(self, *a):
        self.wall = time.perf_counter() - self.t0
        self.stop = True; self.th.join()
        for p, v in tree().items():
            self.last[p] = v[1]
        self.cpu = sum(c - self.start.get(p, 0) for p, c in self.last.items())

def cli(*args):
    """wall s, CPU s, peak RSS bytes of one CLI run."""
    p = subprocess.run(["/usr/bin/time", "-f", "%e %U %S %M", T, *map(str, args)], capture_output=True, text=True, check=True)
    lines = p.stderr.strip().splitlines()
    e, u, s, m = lines[-1].split()
    cli.said = [x for x in lines[:-1] if x.startswith(("linked", "skipped"))]
    return float(e), float(u) + float(s), int(m) * 1024

def strings(p):
    names = open(p).readline().strip().split(",")
    return pacsv.read_csv(p, convert_options=pacsv.ConvertOptions(column_types={n: pa.string() for n in names}))

spark = (SparkSession.builder.master("local[2]").config("spark.sql.shuffle.partitions", parts)
         .config("spark.driver.memory", mem).config("spark.driver.maxResultSize", "0")
         .config("spark.ui.enabled", "false").config("spark.ui.showConsoleProgress", "false")
         .config("spark.driver.host", "127.0.0.1").config("spark.driver.bindAddress", "127.0.0.1").getOrCreate())
spark.sparkContext.setLogLevel("ERROR")
print(f"Spark {spark.version} local[2], driver memory {mem}, spark.sql.shuffle.partitions {parts}", flush=True)
GB = 1e9

if ROWS:
    c = cli("pseudonymise", "--key", f"{W}/k.key", "--input", f"{W}/tok/cohort.csv", "--output", f"{W}/tok.csv", "--as-of", "2026-01-01")
    df = spark.read.option("header", True).csv(f"{W}/tok/cohort.csv").repartition(8).cache()
    rows = df.count()
    with Meter() as m:
        n = tls.pseudonymise(df, f"{W}/k.key", as_of="2026-01-01").where("reject is null").count()
    print(f"tokenise {rows} rows: CLI {c[0]:.2f} s wall, {c[1]:.2f} CPU-s, peak {c[2]/GB:.2f} GB; "
          f"Spark local[2] {m.wall:.2f} s wall, {m.cpu:.1f} CPU-s, peak {m.peak/GB:.2f} GB "
          f"({rows/m.cpu:,.0f} rows per CPU-s against the CLI's {rows/c[1]:,.0f}; {n} tokens)", flush=True)
    c = cli("encode", "--schema", "fixtures/linkage/schema.json", "--key", f"{W}/k.key", "--input", f"{W}/tok/cohort.csv",
            "--output", f"{W}/clk.csv")
    with Meter() as m:
        n = tls.encode(df, "fixtures/linkage/schema.json", key_path=f"{W}/k.key").where("reject is null").count()
    print(f"encode {rows} rows (CLKs and blocking keys): CLI {c[0]:.2f} s wall, {c[1]:.2f} CPU-s, peak {c[2]/GB:.2f} GB; "
          f"Spark local[2] {m.wall:.2f} s wall, {m.cpu:.1f} CPU-s, peak {m.peak/GB:.2f} GB "
          f"({rows/m.cpu:,.0f} rows per CPU-s against the CLI's {rows/c[1]:,.0f}; {n} CLKs)", flush=True)
    df.unpersist()
    del df
    gc.collect()

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
        del t, p, c
    return out

def compare(d, sides, threshold):
    args = ["--threshold", str(threshold)] if threshold else []
    c = cli("link", "--left", f"{W}/{d}.registry.link.csv", "--right", f"{W}/{d}.cohort.link.csv", *args,
            "--output", f"{W}/{d}.m.csv")
    for x in cli.said:
        print(f"  trialink link: {x}", flush=True)
    want = [(int(r["left"]) - 1, int(r["right"]) - 1, r["method"]) for r in csv.DictReader(open(f"{W}/{d}.m.csv"))]
    frames = {}
    for s, t in sides.items():
        pacsv.write_csv(t.append_column("row", pa.array(range(t.num_rows), pa.int64())), f"{W}/{d}.{s}.spark.csv")
        frames[s] = spark.read.option("header", True).csv(f"{W}/{d}.{s}.spark.csv").repartition(8).cache()
        frames[s].count()
    l, r = sides["registry"].num_rows, sides["cohort"].num_rows
    sides.clear()
    gc.collect()
    with Meter() as m:
        got = tls.link(frames["registry"], frames["cohort"], id_column="row", threshold=threshold).toArrow()
    got = got.sort_by([("left", "ascending"), ("right", "ascending")])
    rows = list(zip(got["left"].to_pylist(), got["right"].to_pylist(), got["method"].to_pylist()))
    how = f"--threshold {threshold} (blocked on Spark)" if threshold else "default model (decided on the driver)"
    phases = ", ".join(f"{k} {v:.1f} s" for k, v in tls.last_phases.items()) if threshold else ""
    print(f"link {l} x {r}, {how}: CLI {c[0]:.2f} s wall, {c[1]:.2f} CPU-s, peak {c[2]/GB:.2f} GB; "
          f"Spark local[2] {m.wall:.2f} s wall ({phases}), {m.cpu:.1f} CPU-s, peak {m.peak/GB:.2f} GB; "
          f"matches {len(rows)} (CLI {len(want)}), identical: {rows == want}", flush=True)
    for f in frames.values():
        f.unpersist()

if BLOCKED:
    compare("blocked", link_inputs("blocked"), 0.85)
    gc.collect()
if PEOPLE:
    compare("link", link_inputs("link"), None)
PY
echo "load after: $(uptime)" | tee -a "$OUT/result.txt"
