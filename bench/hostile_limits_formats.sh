#!/usr/bin/env bash
# Issue 15, item 4 (binary formats and linkage): every hostile file is run
# under /usr/bin/time -v and its wall-clock seconds and peak RSS printed
# (target: < 1 s and < 64 MB each), then a paired before/after check that
# `encode` throughput on 2M synthetic rows stays within 5% of `main`'s.
#
# Usage: bench/hostile_limits_formats.sh [ROWS]   (default 2,000,000)
#   SKIP_BUILD=1    use the existing target/release/trialink
#   SKIP_PAIRED=1   hostile files only
#   BEFORE_REF=ref  what "before" is built from (default main), in its own
#                   source checkout and target dir under bench/out/
#   PAIRS=3         paired encode runs (alternating before/after)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
ROWS=${1:-2000000}
OUT=bench/out/hostile_formats
mkdir -p "$OUT"
[ -n "${SKIP_BUILD:-}" ] || cargo build --release -q -p trialink-cli
BIN=${BIN:-$ROOT/target/release/trialink}

# --- hostile files -----------------------------------------------------------
python3 - "$OUT" <<'PY'
import hashlib, struct, sys, json, os
out = sys.argv[1]
def tlbf(k, m, words=1):
    b = b"TLBF\x01\0\0\0" + struct.pack("<IQ", k, m) + b"\0" * 16 + b"\xff" * (8 * words)
    return b + hashlib.sha256(b).digest()
open(f"{out}/k_huge.tlbf", "wb").write(tlbf(2**32 - 1, 64))          # 76 bytes
open(f"{out}/m_cap_short.tlbf", "wb").write(tlbf(3, 2**34))            # declares 2 GiB
open(f"{out}/m_huge_short.tlbf", "wb").write(tlbf(3, 2**62))
open(f"{out}/tokens.csv", "w").write("token\n" + "\n".join(f"{i:064x}" for i in range(1, 1001)) + "\n")
feat = lambda k: {"identifier": "given_name", "format": {"type": "string"},
                  "hashing": {"comparison": {"type": "ngram", "n": 2}, "strategy": {"bitsPerToken": k}}}
schema = lambda k: {"version": 3, "clkConfig": {"l": 1024, "kdf": {"type": "HKDF"}}, "features": [feat(k)]}
json.dump(schema(65536), open(f"{out}/schema_bpt65536.json", "w"))
json.dump(schema(1024), open(f"{out}/schema_bpt1024.json", "w"))
with open(f"{out}/cell_300kb.csv", "w") as f:
    f.write("given_name\nAnn\n" + "x" * 300_000 + "\nBo\n")
open(f"{out}/clk.secret", "w").write("synthetic-bench-secret\n")
PY

# Encoded registry (synthetic fixture) → hostile right-hand files.
rm -f "$OUT"/reg.clk.csv*
"$BIN" encode --schema fixtures/linkage/schema.json --secret-file "$OUT/clk.secret" \
  --input fixtures/synth/registry.csv --output "$OUT/reg.clk.csv" 2>/dev/null
python3 - "$OUT" <<'PY'
import sys
out = sys.argv[1]
rows = open(f"{out}/reg.clk.csv").read().splitlines()
head, body = rows[0], rows[1:]
dob = [r.split(",")[1].split(";")[0] for r in body]
# Every left dob key on every right row (375 rows, ~3 MB).
with open(f"{out}/every_key.csv", "w") as f:
    f.write(head + "\n")
    cell = ";".join(dob)
    for r in body:
        f.write(r.split(",")[0] + "," + cell + "\n")
# One key on every row of both sides: a single block of n x n.
def same(path, reps):
    with open(path, "w") as f:
        f.write(head + "\n")
        for _ in range(reps):
            for r in body:
                f.write(r.split(",")[0] + ",dob=00000000000000aa\n")
same(f"{out}/same_left.csv", 30)    # ~11k rows
same(f"{out}/same_right.csv", 30)   # ~11k x 11k > 10^8 pairs: over the default cap
PY

measure() {  # label, expected exit, command...
  local label=$1 want=$2; shift 2
  local log="$OUT/time.log" rc=0
  /usr/bin/time -v "$@" >"$OUT/stdout.log" 2>"$log" || rc=$?
  local secs rss
  secs=$(awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' "$log" | awk -F: '{ if (NF==3) print $1*3600+$2*60+$3; else print $1*60+$2 }')
  rss=$(awk -F': ' '/Maximum resident set size/ {printf "%.1f", $2/1024}' "$log")
  local verdict=ok
  awk -v s="$secs" -v r="$rss" 'BEGIN { exit !(s < 1.0 && r < 64.0) }' || verdict=OVER
  [ "$rc" = "$want" ] || verdict="$verdict (exit $rc, expected $want)"
  printf '%-44s exit %s  %6.2f s  %7.1f MB  %s\n' "$label" "$rc" "$secs" "$rss" "$verdict"
  grep -v -E '^\s|Command being timed|Exit status' "$log" | grep -E 'error|rejected|skipped|linked|encoded' | head -2 | sed 's/^/    /' || true
}

echo "== hostile files (target < 1 s, < 64 MB) =="
rm -f "$OUT"/check.csv* "$OUT"/enc.csv* "$OUT"/m.csv*
measure "filter check, 76-byte TLBF k=2^32-1" 2 "$BIN" filter check --filter "$OUT/k_huge.tlbf" --tokens "$OUT/tokens.csv" --output "$OUT/check.csv"
measure "filter check, TLBF m=2^34 in 76 bytes" 2 "$BIN" filter check --filter "$OUT/m_cap_short.tlbf" --tokens "$OUT/tokens.csv" --output "$OUT/check.csv"
measure "filter check, TLBF m=2^62 in 76 bytes" 2 "$BIN" filter check --filter "$OUT/m_huge_short.tlbf" --tokens "$OUT/tokens.csv" --output "$OUT/check.csv"
measure "encode, schema bitsPerToken 65536" 2 "$BIN" encode --schema "$OUT/schema_bpt65536.json" --secret-file "$OUT/clk.secret" --input "$OUT/cell_300kb.csv" --output "$OUT/enc.csv"
measure "encode, 300 KB cell (bitsPerToken 1024)" 0 "$BIN" encode --schema "$OUT/schema_bpt1024.json" --secret-file "$OUT/clk.secret" --input "$OUT/cell_300kb.csv" --output "$OUT/enc.csv" --force
measure "link, every dob key on every right row" 0 "$BIN" link --left "$OUT/reg.clk.csv" --right "$OUT/every_key.csv" --output "$OUT/m.csv" --force
measure "link, one 11k x 11k block (over the cap)" 0 "$BIN" link --left "$OUT/same_left.csv" --right "$OUT/same_right.csv" --output "$OUT/m.csv" --force

[ -z "${SKIP_PAIRED:-}" ] || exit 0

# --- paired encode throughput: before (BEFORE_REF) vs after (this tree) -----
REF=${BEFORE_REF:-main}
SRC=$ROOT/bench/out/before-src
TGT=$ROOT/bench/out/target-before
rm -rf "$SRC" && mkdir -p "$SRC"
git archive "$REF" | tar -x -C "$SRC"
if [ ! -d "$TGT/release" ] && [ -d target/release/deps ]; then
  # Seed with this tree's compiled dependencies: only workspace crates rebuild.
  mkdir -p "$TGT" && cp -r target/release "$TGT/release"
fi
(cd "$SRC" && cargo build --release -q -p trialink-cli --target-dir "$TGT")
BEFORE=$TGT/release/trialink

DATA=$OUT/synth_$ROWS
if [ ! -f "$DATA/cohort.csv" ]; then
  echo "making $ROWS synthetic people (trialink synth; never-issued 999 NHS numbers)..."
  "$BIN" synth --people "$ROWS" --out "$DATA" --force >/dev/null 2>&1
fi
IN=$DATA/cohort.csv
echo "== encode throughput, $(($(wc -l <"$IN") - 1)) rows, fixtures/linkage/schema.json =="
run_encode() {  # bin → seconds
  rm -f "$OUT/tp.csv" "$OUT"/tp.csv.*
  local t0 t1
  t0=$(date +%s.%N)
  "$1" encode --schema fixtures/linkage/schema.json --secret-file "$OUT/clk.secret" \
    --input "$IN" --output "$OUT/tp.csv" >/dev/null 2>&1
  t1=$(date +%s.%N)
  echo "$t1 - $t0" | bc
}
run_encode "$BIN" >/dev/null  # warm the page cache
b_all=() a_all=()
for i in $(seq 1 "${PAIRS:-3}"); do
  b=$(run_encode "$BEFORE"); a=$(run_encode "$BIN")
  b_all+=("$b"); a_all+=("$a")
  printf 'pair %d: before %.2f s, after %.2f s, after/before %.3f\n' "$i" "$b" "$a" "$(echo "$a / $b" | bc -l)"
done
python3 - "${b_all[@]}" -- "${a_all[@]}" <<'PY'
import sys, statistics
args = sys.argv[1:]; i = args.index("--")
b = [float(x) for x in args[:i]]; a = [float(x) for x in args[i + 1:]]
r = statistics.median(a) / statistics.median(b)
print(f"median before {statistics.median(b):.2f} s, after {statistics.median(a):.2f} s: "
      f"after/before time {r:.3f} ({'within' if abs(r - 1) <= 0.05 else 'OUTSIDE'} 5%)")
PY
