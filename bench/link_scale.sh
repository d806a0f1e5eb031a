#!/usr/bin/env bash
# End-to-end blocked linkage at scale: a registry of PEOPLE synthetic records
# (every cohort member, with FEBRL-style errors) against a cohort of PEOPLE.
# Prints encode throughput, link time, pair completeness, precision, recall
# and peak memory (/usr/bin/time -v) for CLK-only and hybrid linkage, with
# default settings (the fitted model, no --threshold). SCHEMA picks the
# encoding (default: the field schema the model weighs field by field;
# fixtures/linkage/schema.json for record CLKs and blocking keys only);
# MODES the link modes (default "clk hybrid").
# Usage: bench/link_scale.sh [PEOPLE] [SEED]   (default 1000000, 11)
set -euo pipefail
cd "$(dirname "$0")/.."
PEOPLE=${1:-1000000}
SEED=${2:-11}
[ -n "${SKIP_BUILD:-}" ] || cargo build --release -q -p trialink-cli
T=${TRIALINK:-target/release/trialink}
SCHEMA=${SCHEMA:-fixtures/linkage/schema_fields.json}
MODES=${MODES-clk hybrid}
W=bench/out/link_scale_${PEOPLE}_${SEED}_$(basename "$SCHEMA" .json)
mkdir -p "$W"
if [ ! -f "$W/synth/truth_registry.csv" ]; then
  rm -rf "$W/synth"
  $T synth --people "$PEOPLE" --seed "$SEED" --registry-fraction 1 --outsider-fraction 0 --out "$W/synth" 2>/dev/null
fi
[ -f "$W/master.key" ] || $T keys generate --out "$W/master.key" >/dev/null 2>&1
[ -f "$W/registry.key" ] || $T keys derive --from "$W/master.key" --scope registry:bench --out "$W/registry.key" >/dev/null 2>&1
for side in registry cohort; do
  [ -f "$W/$side.csv" ] && [ -n "${REUSE:-}" ] && continue
  rm -f "$W/$side".tok.csv* "$W/$side".clk.csv*
  $T pseudonymise --key "$W/registry.key" --input "$W/synth/$side.csv" --output "$W/$side.tok.csv" --as-of 2026-01-01 --with-nhs-token 2>/dev/null
  /usr/bin/time -f "%e %U %S" -o "$W/encode_time.txt" $T encode --schema "$SCHEMA" --key "$W/registry.key" --input "$W/synth/$side.csv" --output "$W/$side.clk.csv" 2>/dev/null
  read -r wall user sys < "$W/encode_time.txt"
  rows=$(($(wc -l < "$W/synth/$side.csv") - 1))
  echo "encode $side: $rows rows in $(python3 -c "print('%.2f s wall = %.0f records/s; %.0f records per CPU-second' % ($wall, $rows/$wall, $rows/($user+$sys)))") (CLI end to end, $(nproc) cores, load $(cut -d' ' -f1 /proc/loadavg))"
  python3 - "$W/$side.tok.csv" "$W/$side.tok.csv.rejects.csv" "$W/$side.clk.csv" "$W/$side.csv" <<'PY'
import csv, sys
tok, rej, clk, out = sys.argv[1:]
rejected = set()
try:
    for r in csv.DictReader(open(rej)):
        rejected.add(int(r["line"]))
except FileNotFoundError:
    pass
toks = csv.DictReader(open(tok))
clks = csv.DictReader(open(clk))
w = csv.writer(open(out, "w", newline=""), lineterminator="\n")
w.writerow(["token", "nhs_token", "clk", "blocking"])
for i, c in enumerate(clks):
    t = {"token": "", "nhs_token": ""} if i + 2 in rejected else next(toks)
    w.writerow([t["token"], t["nhs_token"], c["clk"], c["blocking"]])
PY
  rm -f "$W/$side.tok.csv" "$W/$side.clk.csv"
done
TRUTH="$W/synth/truth_registry.csv"
for mode in $MODES; do
  rm -f "$W/matches_$mode.csv"*
  /usr/bin/time -v $T link --left "$W/registry.csv" --right "$W/cohort.csv" --output "$W/matches_$mode.csv" --mode $mode --truth "$TRUTH" > "$W/eval_$mode.txt" 2> "$W/time_$mode.txt"
  python3 - "$mode" "$W/eval_$mode.txt" "$W/time_$mode.txt" "$W/matches_$mode.csv.manifest.json" <<'PY'
import json, sys
mode, ev, tm, man = sys.argv[1:]
e = dict(l.split()[:2] for l in open(ev) if l.strip())
t = {}
for l in open(tm):
    if ":" in l:
        k, v = l.rsplit(":", 1) if "Elapsed" not in l else (l.split("):")[0] + ")", l.split("):")[1])
        t[k.strip()] = v.strip()
m = json.load(open(man))["extra"]["link"]
print(f"link {mode}: {m['left_rows']} x {m['right_rows']} in {t.get('Elapsed (wall clock) time (h:mm:ss or m:ss)')} wall "
      f"(link stage {m['seconds']:.1f} s; CPU {float(t['User time (seconds)'])+float(t['System time (seconds)']):.1f} s user+sys), peak RSS {int(t['Maximum resident set size (kbytes)'])/1024:.0f} MiB, "
      f"{m['comparisons']:,} Dice comparisons (reduction ratio {m['reduction_ratio']:.6f}), "
      f"exact {m['exact']:,} fuzzy {m['fuzzy']:,}")
print(f"  precision {e['precision']} recall {e['recall']} f1 {e['f1']} pair completeness {e['pair_completeness']}")
PY
done
