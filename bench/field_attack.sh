#!/usr/bin/env bash
# Frequency-alignment attack on keyed encodings: what the holder of an
# encoded file (no key) learns by matching the frequency ranks of its
# encodings against public frequencies of the plaintext. The "public" list
# is another synthetic population (its own seed) drawn from synth's name
# frequency tables, as a census-like name count would be.
# For each field encoding (the name filters and the DOB/postcode/sex keys of
# fixtures/linkage/schema_fields.json) and for the record-level CLK it
# prints: distinct encodings, rows whose value the attack recovers, and the
# share of the 100 most frequent encodings it names correctly.
# Usage: bench/field_attack.sh ENCODED.clk.csv PLAINTEXT.csv [PEOPLE] [PUBLIC_SEED]
#   e.g. after bench/link_quality.sh 200000 2026:
#   bench/field_attack.sh bench/out/link_quality_200000_2026/cohort.clk.csv bench/out/link_quality_200000_2026/synth/cohort.csv
set -euo pipefail
cd "$(dirname "$0")/.."
ENC=$1
PLAIN=$2
PEOPLE=${3:-200000}
PSEED=${4:-99}
T=${TRIALINK:-target/release/trialink}
PUB=bench/out/field_attack_public_${PEOPLE}_${PSEED}
[ -f "$PUB/cohort.csv" ] || $T synth --people "$PEOPLE" --seed "$PSEED" --out "$PUB" >/dev/null 2>&1
python3 - "$ENC" "$PLAIN" "$PUB/cohort.csv" <<'PY'
import csv, sys
from collections import Counter
enc_path, plain_path, pub_path = sys.argv[1:]
enc = list(csv.DictReader(open(enc_path)))
plain = list(csv.DictReader(open(plain_path)))
pub = list(csv.DictReader(open(pub_path)))
assert len(enc) == len(plain)
def items(r):
    return dict(x.split("=", 1) for x in r["blocking"].split(";") if x)
rows = [items(r) for r in enc]
def district(p):
    p = p.replace(" ", "").upper()
    return p[:-3] if len(p) >= 5 else p
def up(s):
    return s.replace(" ", "").upper()
# (label, encoding of a row, plaintext value of a row)
targets = [
    ("fb_name_given (filter)", lambda i: rows[i].get("fb_name_given"), lambda r: up(r["given_name"])),
    ("fb_name_family (filter)", lambda i: rows[i].get("fb_name_family"), lambda r: up(r["family_name"])),
    ("fk_dob_1 (year)", lambda i: rows[i].get("fk_dob_1"), lambda r: r["date_of_birth"][:4]),
    ("fk_dob_4 (date)", lambda i: rows[i].get("fk_dob_4"), lambda r: r["date_of_birth"]),
    ("fk_postcode_1 (district)", lambda i: rows[i].get("fk_postcode_1"), lambda r: district(r["postcode"])),
    ("fk_sex_1 (sex)", lambda i: rows[i].get("fk_sex_1"), lambda r: r["sex"] or "unknown"),
    ("record CLK vs family name", lambda i: enc[i]["clk"], lambda r: up(r["family_name"])),
    ("record CLK vs given+family", lambda i: enc[i]["clk"], lambda r: up(r["given_name"]) + "|" + up(r["family_name"])),
]
print(f"{'encoding':30} {'distinct':>9} {'rows recovered':>16} {'top-100 named':>14}")
for label, e, v in targets:
    ec = Counter(x for x in (e(i) for i in range(len(enc))) if x)
    pc = Counter(v(r) for r in pub if v(r))
    guess = dict(zip((k for k, _ in ec.most_common()), (k for k, _ in pc.most_common())))
    hit = sum(1 for i, r in enumerate(plain) if e(i) and guess.get(e(i)) == v(r))
    n = sum(1 for i in range(len(enc)) if e(i))
    truth = {}
    for i, r in enumerate(plain):
        if e(i):
            truth.setdefault(e(i), Counter())[v(r)] += 1
    top = [k for k, _ in ec.most_common(100)]
    named = sum(1 for k in top if guess.get(k) == truth[k].most_common(1)[0][0])
    print(f"{label:30} {len(ec):>9} {hit:>8} ({hit / max(n, 1):6.1%}) {named:>10}/{len(top)}")
PY
