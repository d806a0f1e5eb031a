#!/usr/bin/env bash
# Issue 15: each cap added for untrusted files, fed its hostile file, under
# /usr/bin/time -v: seconds and peak RSS (target < 1 s, < 64 MB), exit code.
#   bench/hostile_limits.sh            (BIN=path/to/trialink to choose the binary)
set -uo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-target/release/trialink}
[ -x "$BIN" ] || BIN=target/debug/trialink
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
"$BIN" keys generate --out "$W/k.key" --scope registry:bench >/dev/null 2>&1
"$BIN" keys generate --out "$W/m.key" >/dev/null 2>&1
mkfifo "$W/fifo"
python3 - "$W" <<'PY'
import sys
w = sys.argv[1]
open(f"{w}/long_row.csv", "w").write("nhs_number,date_of_birth\n9991335056," + "x" * 300_000_000 + "\n")
open(f"{w}/wide.csv", "w").write(",".join(f"c{i}" for i in range(200_000)) + "\n")
open(f"{w}/unclosed.csv", "w").write("nhs_number,date_of_birth,c\n9991335056,1961-01-01,\"open\n" + "9990864950,1961-01-01,x\n" * 1_000_000)
open(f"{w}/big_study.toml", "w").write("#" * 300_000_000)
open(f"{w}/big_schema.json", "w").write(" " * 300_000_000)
import struct, hashlib
# A TLBF whose header declares m = 2^36 bits (8 GiB) in a 100-byte file.
h = b"TLBF" + bytes([1, 0, 0, 0]) + struct.pack("<IQQ", 3, 1 << 36, 1) + b"\0" * 8
open(f"{w}/lying.tlbf", "wb").write(h + b"\0" * 64)
PY
echo "req" > "$W/req.toml"
measure() {
  local label=$1; shift
  /usr/bin/time -v "$@" >/dev/null 2>"$W/t" </dev/null
  local rc=$?
  local s=$(sed -n 's/.*Elapsed (wall clock) time (h:mm:ss or m:ss): //p' "$W/t")
  local kb=$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$W/t")
  local msg=$(grep -m1 '^error:' "$W/t" | cut -c1-110)
  printf '%-34s exit %s  %8s  %6.1f MB  %s\n' "$label" "$rc" "$s" "$(awk -v k="$kb" 'BEGIN{print k/1024}')" "$msg"
}
echo "binary: $BIN"
measure "record limit: --input /dev/zero" "$BIN" pseudonymise --key "$W/k.key" --input /dev/zero --output "$W/o1.csv"
measure "record limit: 300 MB line" "$BIN" pseudonymise --key "$W/k.key" --input "$W/long_row.csv" --output "$W/o2.csv"
measure "column limit: 200k columns" "$BIN" pseudonymise --key "$W/k.key" --input "$W/wide.csv" --output "$W/o3.csv"
measure "unclosed quote, 1M rows after" "$BIN" noncontact add --store "$W/s.sqlite" --key "$W/m.key" --input "$W/unclosed.csv"
measure "study file cap: 300 MB" "$BIN" study add --store "$W/s2.sqlite" --operator T "$W/big_study.toml"
measure "schema cap: 300 MB" "$BIN" encode --schema "$W/big_schema.json" --key "$W/k.key" --input "$W/wide.csv" --output "$W/o5.csv"
measure "schema from /dev/zero" "$BIN" encode --schema /dev/zero --key "$W/k.key" --input "$W/wide.csv" --output "$W/o6.csv"
measure "TLBF declaring 8 GiB, 100 bytes" "$BIN" filter check --filter "$W/lying.tlbf" --tokens "$W/wide.csv" --output "$W/o7.csv"
measure "FIFO as key (invite)" "$BIN" invite --store "$W/s3.sqlite" --key "$W/fifo" --request "$W/req.toml" --cohort "$W/wide.csv" --out "$W/b"
measure "FIFO as cohort (invite)" "$BIN" invite --store "$W/s3.sqlite" --key "$W/m.key" --request fixtures/requests/example.toml --cohort "$W/fifo" --out "$W/b"
