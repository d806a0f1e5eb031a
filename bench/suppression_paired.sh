#!/usr/bin/env bash
# What fail-closed suppression costs (NHS-only non-contact tokens,
# per-person exclusions over duplicate rows, CLK objections, lenient parsing),
# paired against a baseline tree in one script.
#
#   bench/suppression_paired.sh BEFORE_SRC [PEOPLE] [NONCONTACT] [HISTORY] [INVITATIONS]
#
# BEFORE_SRC: a source tree of the baseline (e.g. `git archive 0405021 | tar -x
# -C /tmp/before`), built in place. Each tree runs its own bench/invite_scale.sh
# (its own store schema and bench_state) with the same sizes, then
# `noncontact add` of PEOPLE objections (the cohort's NHS numbers and DOBs)
# into a fresh store. Prints both wall times and the ratios after/before
# (the issue's bar: within 10%).
set -euo pipefail
cd "$(dirname "$0")/.."
BEFORE_SRC=${1:?usage: bench/suppression_paired.sh BEFORE_SRC [PEOPLE] [NC] [HIST] [N]}
PEOPLE=${2:-2000000}; NC=${3:-4000000}; HIST=${4:-10000000}; N=${5:-100000}
AFTER_SRC=$(pwd)
declare -A INV NCADD
for side in before after; do
  src=$BEFORE_SRC; [ "$side" = after ] && src=$AFTER_SRC
  W=/tmp/trialink-suppression-$side
  mkdir -p "$W"
  echo "== $side: invite_scale ($PEOPLE cohort, $NC non-contact, $HIST prior invitations, $N invitations)"
  (cd "$src" && bench/invite_scale.sh "$W" "$PEOPLE" "$NC" "$HIST" "$N") > "$W/invite.log" 2>&1 || { tail -20 "$W/invite.log"; exit 1; }
  INV[$side]=$(grep "invite wall time" "$W/invite.log" | awk '{print $4}')
  grep "invite wall time\|invite peak RSS" "$W/invite.log"
  T="$src/target/release/trialink"
  OBJ="$W/objections-$PEOPLE.csv"
  [ -f "$OBJ" ] || awk -F, 'NR==1 {print "nhs_number,date_of_birth"; next} {print $1 "," $4}' "$W/synth-$PEOPLE/cohort.csv" > "$OBJ"
  rm -f "$W/nc.sqlite"* "$OBJ".*rejects* "$OBJ".*manifest*
  # /usr/bin/time writes its figure last on the command's stderr.
  /usr/bin/time -f %e "$T" noncontact add --store "$W/nc.sqlite" --key "$W/master.key" \
    --input "$OBJ" --as-of 2026-11-21 >/dev/null 2>"$W/nc.err" || true
  s=$(tail -1 "$W/nc.err")
  NCADD[$side]=$s
  echo "noncontact add of $PEOPLE objections: $s s"
done
sec() { awk -F: '{ if (NF==2) print $1*60+$2; else print $1 }' <<<"$1"; }
b=$(sec "${INV[before]}"); a=$(sec "${INV[after]}")
echo "invite: before ${b} s, after ${a} s, ratio $(awk -v a="$a" -v b="$b" 'BEGIN{printf "%.3f", a/b}')"
echo "noncontact add: before ${NCADD[before]} s, after ${NCADD[after]} s, ratio $(awk -v a="${NCADD[after]}" -v b="${NCADD[before]}" 'BEGIN{printf "%.3f", a/b}')"
