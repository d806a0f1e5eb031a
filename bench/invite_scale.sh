#!/usr/bin/env bash
# Service-scale invitation benchmark:
#   a 2M-row cohort, a 4M-token non-contact list and 10M prior invitations in
#   the store → one 100,000-invitation batch. Prints wall time and peak RSS
#   of `trialink invite` (from /usr/bin/time -v). Targets: < 60 s, < 4 GB.
#
# Usage: bench/invite_scale.sh [WORKDIR] [PEOPLE] [NONCONTACT] [HISTORY] [INVITATIONS]
# With BASE=/path/to/baseline/trialink (and optionally ROUNDS, default 3) it
# is a paired before/after run: the baseline and this tree's binary invite
# the same batch from fresh copies of the same store, alternately, ROUNDS
# times each, and the medians and their ratio are printed. FEATURES (e.g.
# parquet) builds this tree with the features the baseline was built with.
# The expensive state (synthetic cohort, populated store) is kept in WORKDIR
# and reused by later runs; each run invites from a fresh copy of the store.
set -euo pipefail
cd "$(dirname "$0")/.."
W=${1:-/tmp/trialink-bench-invite}
PEOPLE=${2:-2000000}
NC=${3:-4000000}
HIST=${4:-10000000}
N=${5:-100000}
mkdir -p "$W"
cargo build --release -q -p trialink-cli ${FEATURES:+--features "$FEATURES"}
cargo build --release -q -p recruitment --example bench_state
T=target/release/trialink

if [ ! -f "$W/synth-$PEOPLE/cohort.csv" ]; then
  echo "== synth: $PEOPLE people"
  /usr/bin/time -f "synth: %e s, peak %M KB" $T synth --people "$PEOPLE" --seed 1 --as-of 2026-11-21 --out "$W/synth-$PEOPLE" >/dev/null
fi
[ -f "$W/master.key" ] || $T keys generate --out "$W/master.key" >/dev/null
STATE="$W/state-$PEOPLE-$NC-$HIST.sqlite"
if [ ! -f "$STATE" ]; then
  echo "== store state: $NC non-contact tokens, $HIST prior invitations"
  /usr/bin/time -f "state: %e s, peak %M KB" target/release/examples/bench_state \
    "$STATE.tmp" "$W/master.key" "$W/synth-$PEOPLE/cohort.csv" "$NC" "$HIST"
  mv "$STATE.tmp" "$STATE"
  rm -f "$STATE.tmp-wal" "$STATE.tmp-shm"
fi

cat > "$W/request.toml" <<REQ
study = "bench-study"
channel = "postal"
invitations = $N
seed = 7
as_of = "2026-11-21"
[criteria]
min_age = 40
max_age = 79
[frequency_cap]
max_invitations = 2
within_days = 365
[quotas]
by = ["sex", "age_band"]
proportional = true
[[arms]]
name = "A"
template = "letter-a"
[[arms]]
name = "B"
template = "letter-b"
REQ

if [ -n "${BASE:-}" ]; then
  ROUNDS=${ROUNDS:-3}
  RUN="$W/run"
  : > "$W/paired.txt"
  for r in $(seq 1 "$ROUNDS"); do
    for side in base new; do
      bin=$T; [ "$side" = base ] && bin=$BASE
      rm -rf "$RUN" && mkdir -p "$RUN" && cp "$STATE" "$RUN/store.sqlite"
      /usr/bin/time -f "%e %M" -o "$RUN/time.txt" "$bin" invite --store "$RUN/store.sqlite" --key "$W/master.key" \
        --cohort "$W/synth-$PEOPLE/cohort.csv" --request "$W/request.toml" --out "$RUN/batch" \
        --qa-seeds "$W/synth-$PEOPLE/qa_seeds.csv" > "$RUN/stdout.txt" 2>&1 || { cat "$RUN/stdout.txt"; exit 1; }
      read -r secs kb < "$RUN/time.txt"
      rows=$(($(wc -l < "$RUN/batch/invitations.csv") - 1))
      echo "round $r $side: $secs s, peak $((kb / 1024)) MB, $rows batch rows"
      echo "$side $secs $kb" >> "$W/paired.txt"
    done
  done
  python3 - "$W/paired.txt" <<'PY'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1])]
med = {s: statistics.median(float(r[1]) for r in rows if r[0] == s) for s in ("base", "new")}
rss = {s: statistics.median(int(r[2]) for r in rows if r[0] == s) / 1024 for s in ("base", "new")}
print(f"median wall: base {med['base']:.2f} s, new {med['new']:.2f} s, new/base {med['new'] / med['base']:.3f}")
print(f"median peak RSS: base {rss['base']:.0f} MB, new {rss['new']:.0f} MB")
PY
  exit 0
fi

RUN="$W/run"
rm -rf "$RUN" && mkdir -p "$RUN"
cp "$STATE" "$RUN/store.sqlite"
echo "== invite: $N invitations from $PEOPLE people"
/usr/bin/time -v $T invite --store "$RUN/store.sqlite" --key "$W/master.key" \
  --cohort "$W/synth-$PEOPLE/cohort.csv" --request "$W/request.toml" --out "$RUN/batch" \
  --qa-seeds "$W/synth-$PEOPLE/qa_seeds.csv" > "$RUN/stdout.txt" 2> "$RUN/time.txt" || { cat "$RUN/time.txt"; exit 1; }
cat "$RUN/stdout.txt"
WALL=$(grep "Elapsed (wall clock)" "$RUN/time.txt" | awk '{print $NF}')
RSS=$(grep "Maximum resident set size" "$RUN/time.txt" | awk '{print $NF}')
ROWS=$(($(wc -l < "$RUN/batch/invitations.csv") - 1))
echo "== result: cohort $PEOPLE, non-contact $NC, history $HIST, batch rows $ROWS"
echo "invite wall time: $WALL (target < 1:00.00)"
echo "invite peak RSS: $((RSS / 1024)) MB (target < 4096 MB)"
