#!/usr/bin/env bash
# Linkage quality on synthetic registry data: precision, recall, F1 and pair
# completeness of hybrid (tokens then CLKs) vs CLK-only vs token-only, against
# synth's truth_registry.csv, each with default settings (no --threshold),
# paired in one run with today's method: the baseline binary ($BASE, default
# /tmp/trialink-base/trialink) on the match-key schema it supports.
# `trialink demo --people 200000 --seed 2026` links the population of
# `bench/link_quality.sh 200000 2026`.
# SKIP_BASE=1 leaves out today's method (no baseline binary needed).
# Usage: bench/link_quality.sh [PEOPLE] [SEED]   (default 100000, 7)
set -euo pipefail
cd "$(dirname "$0")/.."
PEOPLE=${1:-100000}
SEED=${2:-7}
[ -n "${SKIP_BUILD:-}" ] || cargo build --release -q -p trialink-cli
T=${TRIALINK:-target/release/trialink}
W=bench/out/link_quality_${PEOPLE}_${SEED}
rm -rf "$W"; mkdir -p "$W"
# The field schema adds keyed field encodings (name filters, DOB, postcode
# and sex keys) to the example schema's blocking passes; CLKs are the same
# bits. Today's method encodes with the match-key schema.
SCHEMA=${SCHEMA:-fixtures/linkage/schema_fields.json}
BASE=${BASE:-/tmp/trialink-base/trialink}
BASE_SCHEMA=fixtures/linkage/schema_matchkeys.json

$T synth --people "$PEOPLE" --seed "$SEED" --out "$W/synth" 2>/dev/null
# The registry pseudonymises with the scope key the Service derived for it;
# the Service makes the cohort's tokens and CLKs under the same key.
$T keys generate --out "$W/master.key" >/dev/null 2>&1
$T keys derive --from "$W/master.key" --scope registry:bench --out "$W/registry.key" >/dev/null 2>&1
for side in registry cohort; do
  $T pseudonymise --key "$W/registry.key" --input "$W/synth/$side.csv" --output "$W/$side.tok.csv" --as-of 2026-01-01 --with-nhs-token 2>/dev/null
  $T encode --schema "$SCHEMA" --key "$W/registry.key" --input "$W/synth/$side.csv" --output "$W/$side.clk.csv" 2>/dev/null
  [ -n "${SKIP_BASE:-}" ] || $BASE encode --schema "$BASE_SCHEMA" --key "$W/registry.key" --input "$W/synth/$side.csv" --output "$W/$side.base.clk.csv" 2>/dev/null
  # Put token, clk and blocking side by side, row for row: rows pseudonymise
  # rejected (no usable NHS number or DOB) keep their CLK with an empty token,
  # as DESIGN §4.4 allows. (`pseudonymise --clk-schema` will do this in one step.)
  for v in "" ${SKIP_BASE:+-}.base; do
  [ "$v" = "-.base" ] && continue
  python3 - "$W/$side.tok.csv" "$W/$side.tok.csv.rejects.csv" "$W/$side$v.clk.csv" "$W/$side$v.csv" <<'PY'
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
    line = i + 2
    t = {"token": "", "nhs_token": ""} if line in rejected else next(toks)
    w.writerow([t["token"], t["nhs_token"], c["clk"], c["blocking"]])
PY
  done
done

# CLK-only inputs: no NHS numbers on either side (no token, no nhs_token).
for side in registry cohort registry.base cohort.base; do
  [ -f "$W/$side.csv" ] || continue
  python3 - "$W/$side.csv" "$W/$side.clkonly.csv" <<'PY'
import csv, sys
r = csv.DictReader(open(sys.argv[1]))
w = csv.writer(open(sys.argv[2], "w", newline=""), lineterminator="\n")
w.writerow(["clk", "blocking"])
for row in r:
    w.writerow([row["clk"], row["blocking"]])
PY
done

TRUTH="$W/synth/truth_registry.csv"
echo "synthetic registry (people $PEOPLE, seed $SEED): $(($(wc -l < "$W/registry.csv") - 1)) rows vs cohort $(($(wc -l < "$W/cohort.csv") - 1)) rows, $(($(wc -l < "$TRUTH") - 1)) true pairs"
printf "%-26s %9s %9s %9s %9s %12s %9s %s\n" method precision recall f1 pair_comp comparisons seconds rule
run() { # binary label left right extra-args...
  local bin=$1 label=$2 l=$3 r=$4; shift 4
  res=$($bin link --left "$l" --right "$r" --output "$W/matches_$label.csv" --truth "$TRUTH" "$@" 2>/dev/null)
  get() { echo "$res" | awk -v k="$1" '$1==k{print $2}'; }
  extra=$(python3 -c "import json;m=json.load(open('$W/matches_$label.csv.manifest.json'))['extra']['link'];t=m.get('dice_threshold');print(m['comparisons'], '%.2f'%m['seconds'], m['rule']+('' if t is None else '_%.2f'%t))")
  printf "%-26s %9s %9s %9s %9s %12s %9s %s\n" "$label" "$(get precision)" "$(get recall)" "$(get f1)" "$(get pair_completeness)" $extra
}
# Today's method (baseline binary, its defaults), then this build's defaults.
[ -n "${SKIP_BASE:-}" ] || run "$BASE" today_hybrid "$W/registry.base.csv" "$W/cohort.base.csv" --mode hybrid
run "$T" hybrid "$W/registry.csv" "$W/cohort.csv" --mode hybrid
[ -n "${SKIP_BASE:-}" ] || run "$BASE" today_clk_only "$W/registry.base.clkonly.csv" "$W/cohort.base.clkonly.csv" --mode clk
run "$T" clk_only "$W/registry.clkonly.csv" "$W/cohort.clkonly.csv" --mode clk
run "$T" token "$W/registry.csv" "$W/cohort.csv" --mode token
for label in hybrid clk_only; do
  echo "evidence ($label):"; $T evaluate --matches "$W/matches_$label.csv" --truth "$TRUTH" | grep '^evidence_' | sed 's/^/  /'
done
