"""Known-answer vectors (fixtures/vectors) through the Python API, byte for byte."""

import csv
import hashlib
import json

import pyarrow as pa
import pytest

import trialink
from conftest import VECTORS, private_copy, read_strings


def test_key_fingerprints_and_scope_derivation(master_key):
    keys = json.loads((VECTORS / "keys.json").read_text())
    k = trialink.Key.load(master_key)
    assert k.fingerprint == keys["master_fingerprint"]
    for d in keys["derived"]:
        s = k.derive(d["scope"])
        assert s.fingerprint == d["fingerprint"]
        assert s.scope == d["scope"]
        # Only the fingerprint is ever shown.
        assert d["key_hex"] not in repr(s) and keys["master_hex"] not in repr(s)
    for bad in keys.get("rejected_scopes", keys.get("invalid_scopes", [])):
        with pytest.raises(trialink.ScopeError):
            k.derive(bad)


def test_tokens(master_key):
    master = trialink.Key.load(master_key)
    rows = list(csv.DictReader(open(VECTORS / "tokens.csv")))
    by_scope = {}
    for r in rows:
        by_scope.setdefault(r["scope"], []).append(r)
    for scope, rs in by_scope.items():
        t = pa.table({"nhs_number": [r["nhs_number"] for r in rs], "date_of_birth": [r["date_of_birth"] for r in rs]})
        out = trialink.pseudonymise(t, master.derive(scope), as_of="2026-11-21", with_nhs_token=True)
        assert out.column("token").to_pylist() == [r["token_nhs_dob"] for r in rs]
        assert out.column("nhs_token").to_pylist() == [r["token_nhs"] for r in rs]
        assert out.column("reject").null_count == len(rs)


def test_identifier_vectors_accept_and_reject_as_specified(master_key):
    key = trialink.Key.load(master_key)
    nhs = list(csv.DictReader(open(VECTORS / "nhs_numbers.csv", encoding="utf-8")))
    t = pa.table({"nhs_number": [r["input"] for r in nhs], "dob": ["1980-01-05"] * len(nhs)})
    out = trialink.pseudonymise(t, key, as_of="2026-11-21")
    norm = pa.table({"nhs_number": [r["normalised"] or "x" for r in nhs], "dob": ["1980-01-05"] * len(nhs)})
    want = trialink.pseudonymise(norm, key, as_of="2026-11-21")
    for r, got, reject, w in zip(nhs, out["token"].to_pylist(), out["reject"].to_pylist(), want["token"].to_pylist()):
        if r["verdict"] == "valid":
            assert got == w and reject is None
        else:
            assert got is None and reject.startswith("nhs_")
    dobs = list(csv.DictReader(open(VECTORS / "dates_of_birth.csv", encoding="utf-8")))
    t = pa.table({"nhs_number": ["9991335056"] * len(dobs), "dob": [r["input"] for r in dobs]})
    out = trialink.pseudonymise(t, key, as_of="2026-11-21")
    for r, reject in zip(dobs, out["reject"].to_pylist()):
        assert (reject is None) == (r["verdict"] == "valid"), r["input"]
        if reject is not None:
            assert reject.startswith("dob_")


@pytest.mark.parametrize("case", json.loads((VECTORS / "clk_cases.json").read_text()), ids=lambda c: c["case"])
def test_clks_are_clkhash_byte_for_byte(case, tmp_path):
    secret_file = tmp_path / "clk.secret"
    secret_file.write_text(case["secret"])
    schema = trialink.Schema.load(str(VECTORS / case["schema"]))
    records = read_strings(VECTORS / case["records"])
    out = trialink.encode(records, schema, trialink.Secret.load(str(secret_file)), keep=["ref"])
    expected = read_strings(VECTORS / case["expected"])
    assert out.column("ref").to_pylist() == expected.column("ref").to_pylist()
    assert out.column("clk").to_pylist() == expected.column("clk").to_pylist()


def test_tlbf_file_is_byte_identical(master_key, tmp_path):
    spec = json.loads((VECTORS / "tlbf.json").read_text())
    key = trialink.Key.load(master_key).derive(spec["key_scope"])
    members = read_strings(VECTORS / spec["members"])
    tokens = trialink.pseudonymise(members, key, as_of="2026-11-21")["token"]
    f = trialink.Tlbf.build(tokens, key, fpr=spec["fpr"])
    assert (f.n, f.m, f.k, f.fingerprint) == (spec["n"], spec["m"], spec["k"], spec["fingerprint"])
    data = f.to_bytes()
    assert hashlib.sha256(data).hexdigest() == spec["sha256_of_file"]
    assert data == (VECTORS / spec["file"]).read_bytes()
    loaded = trialink.Tlbf.load(str(VECTORS / spec["file"]))
    probe = read_strings(VECTORS / "tlbf_probe.csv")
    says = loaded.check(probe["token"]).to_pylist()
    assert says == [x == "1" for x in probe["filter_says"].to_pylist()]
    out = tmp_path / "f.tlbf"
    f.save(str(out))
    assert out.read_bytes() == data
    with pytest.raises(trialink.InputError):
        f.save(str(out))
