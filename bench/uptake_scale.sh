#!/usr/bin/env bash
# Uptake benchmark: 1,000,000 feedback rows against a 100,000-
# invitation batch in a service-scale store. Run bench/invite_scale.sh first
# (it leaves WORKDIR/run/store.sqlite and the batch). Prints wall time and
# peak RSS of `trialink uptake` (target < 20 s).
#
# Usage: bench/uptake_scale.sh [WORKDIR] [ROWS]
set -euo pipefail
cd "$(dirname "$0")/.."
W=${1:-/tmp/trialink-bench-invite}
ROWS=${2:-1000000}
T=target/release/trialink
[ -f "$W/run/batch/invitations.csv" ] || { echo "run bench/invite_scale.sh first"; exit 2; }
cargo build --release -q -p trialink-cli
STUDY=$(grep '^study' "$W/request.toml" | cut -d'"' -f2)
F="$W/uptake-$ROWS.csv"
# Each invitation's journey over successive days: expressed_interest,
# consented, randomised, withdrawn, … cycling until ROWS rows.
awk -F, -v rows="$ROWS" 'NR > 1 { ref[n++] = $1 }
  END {
    split("expressed_interest consented randomised ineligible withdrawn", st, " ");
    print "reference,status,date";
    for (i = 0; i < rows; i++) {
      r = ref[i % n]; k = int(i / n);
      printf "%s,%s,2026-%02d-%02d\n", r, st[k % 5 + 1], 1 + int(k / 28) % 12, 1 + k % 28;
    }
  }' "$W/run/batch/invitations.csv" > "$F"
cp "$W/run/store.sqlite" "$W/run/uptake-store.sqlite"
rm -f "$F".uptake.csv "$F".uptake.manifest.json
echo "== uptake: $ROWS rows"
/usr/bin/time -v $T uptake --store "$W/run/uptake-store.sqlite" --key "$W/master.key" --study "$STUDY" --input "$F" \
  > "$W/uptake-stdout.txt" 2> "$W/uptake-time.txt" || { cat "$W/uptake-time.txt"; exit 1; }
cat "$W/uptake-stdout.txt"
WALL=$(grep "Elapsed (wall clock)" "$W/uptake-time.txt" | awk '{print $NF}')
RSS=$(grep "Maximum resident set size" "$W/uptake-time.txt" | awk '{print $NF}')
echo "uptake wall time: $WALL for $ROWS rows (target < 0:20.00)"
echo "uptake peak RSS: $((RSS / 1024)) MB"
