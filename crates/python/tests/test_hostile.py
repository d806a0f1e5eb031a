"""Hostile inputs raise the documented exceptions, with codes and positions,
and never a value from the data or a key."""

import os
import pickle

import pyarrow as pa
import pytest

import trialink
from conftest import VECTORS, private_copy

MARKERS = ["9991335055", "1980-01-05", "Quixotic", "SW1A 1AA", "f0862c4759ca9b15"]


def no_markers(e):
    text = str(e) + repr(e) + str(getattr(e, "hint", ""))
    for m in MARKERS:
        assert m not in text, text


def test_key_files(tmp_path, master_key):
    loose = tmp_path / "loose.key"
    loose.write_bytes((VECTORS / "master.key").read_bytes())
    os.chmod(loose, 0o644)
    with pytest.raises(trialink.KeyFileError) as e:
        trialink.Key.load(str(loose))
    assert e.value.code == "permissions" and "chmod 600" in e.value.hint
    no_markers(e.value)
    bad = tmp_path / "bad.key"
    bad.write_text("# trialink key\nTRIALINK-KEY-1:f0862c4759ca9b15zz\n")
    os.chmod(bad, 0o600)
    with pytest.raises(trialink.KeyFileError) as e:
        trialink.Key.load(str(bad))
    assert (e.value.code, e.value.line) == ("bad_line", 2)
    assert isinstance(e.value, trialink.TrialinkError)
    no_markers(e.value)
    with pytest.raises(trialink.KeyFileError) as e:
        trialink.Key.load(str(tmp_path / "missing.key"))
    assert e.value.code == "io"


def test_keys_are_never_strings_printed_or_pickled(master_key):
    k = trialink.Key.load(master_key)
    assert "f0862c47" not in repr(k) and k.fingerprint in repr(k)
    with pytest.raises(TypeError):
        pickle.dumps(k)
    with pytest.raises(TypeError):
        trialink.Key("f0862c4759ca9b15561201f52e295c592b2a985d6459589ae61d3e68eb137814")
    with pytest.raises(TypeError):
        trialink.pseudonymise(pa.table({"nhs_number": ["x"], "dob": ["y"]}), "f0862c4759ca9b15" * 4)
    with pytest.raises(TypeError):
        trialink.encode(pa.table({"a": ["x"]}), trialink.Schema.load(str(VECTORS / "clk_schema_blake.json")), "secret")
    s = trialink.Secret.from_key(k)
    assert "f0862c47" not in repr(s)
    with pytest.raises(TypeError):
        pickle.dumps(s)


def test_bad_identifiers_are_reason_codes_not_values(master_key):
    k = trialink.Key.load(master_key)
    t = pa.table({"nhs_number": ["9991335055", "9991335056", None, "9991335056"],
                  "dob": ["1980-01-05", "2999-01-01", "1980-01-05", None]})
    out = trialink.pseudonymise(t, k, as_of="2026-11-21")
    assert out["reject"].to_pylist() == ["nhs_check_digit", "dob_after_as_of", "nhs_missing", "dob_missing"]
    assert out["token"].null_count == 4
    for m in MARKERS:
        assert m not in str(out.column("reject").to_pylist())


def test_columns_and_keep(master_key):
    k = trialink.Key.load(master_key)
    t = pa.table({"nhs_number": ["9991335056"], "dob": ["1980-01-05"], "note": ["Quixotic"]})
    with pytest.raises(trialink.InputError) as e:
        trialink.pseudonymise(t, k, keep=["dob"])
    assert e.value.code == "identifier_kept"
    with pytest.raises(trialink.InputError) as e:
        trialink.pseudonymise(pa.table({"x": ["9991335055"]}), k)
    assert e.value.code == "missing_column"
    no_markers(e.value)
    out = trialink.pseudonymise(t, k, as_of="2026-11-21", keep=["note"])
    assert out.column_names == ["token", "reject", "note"]
    with pytest.raises(TypeError):
        trialink.pseudonymise([{"nhs_number": "9991335056"}], k)


def test_schema_errors_carry_json_paths():
    with pytest.raises(trialink.SchemaError) as e:
        trialink.Schema.from_json('{"version": 3, "clkConfig": {"l": 99999999, "kdf": {"type": "HKDF"}}, "features": []}')
    assert e.value.json_path == "$.clkConfig.l" and e.value.code == "invalid"
    with pytest.raises(trialink.SchemaError) as e:
        trialink.Schema.from_json("{not json")
    assert e.value.code == "json"


def test_encode_rejects_name_the_feature_not_the_value(tmp_path):
    secret = tmp_path / "s"
    secret.write_text("k")
    schema = trialink.Schema.load(str(VECTORS / "clk_schema_blake.json"))
    names = schema.features
    t = pa.table({n: ["Quixotic" if i == 0 else "" for _ in range(1)] for i, n in enumerate(names)})
    t = t.set_column(names.index("date_of_birth"), "date_of_birth", pa.array(["not-a-date-1980-01-05"]))
    out = trialink.encode(t, schema, trialink.Secret.load(str(secret)))
    assert out["reject"].to_pylist() == ["not_a_date"]
    assert out["reject_feature"].to_pylist() == ["date_of_birth"]
    empty = tmp_path / "empty"
    empty.write_text("")
    with pytest.raises(trialink.KeyFileError) as e:
        trialink.Secret.load(str(empty))
    assert e.value.code == "empty"


def test_link_inputs():
    good = "a" * 64
    with pytest.raises(trialink.InputError) as e:
        trialink.link(pa.table({"token": [good, "9991335055" + "z" * 54]}), pa.table({"token": [good]}))
    assert e.value.row == 2
    no_markers(e.value)
    with pytest.raises(trialink.InputError):
        trialink.link(pa.table({"x": ["1"]}), pa.table({"token": [good]}))
    with pytest.raises(trialink.LinkError) as e:
        trialink.link(pa.table({"token": [good]}), pa.table({"token": [good]}), threshold=1.5)
    assert e.value.code == "bad_threshold"
    with pytest.raises(trialink.InputError) as e:
        trialink.link(pa.table({"clk": ["AAAA", "!!!!"]}), pa.table({"clk": ["AAAA"]}))
    assert e.value.row == 2


def test_filters(tmp_path, master_key):
    with pytest.raises(trialink.FilterError):
        trialink.Tlbf.from_bytes(b"TLBF" + b"\xff" * 40)
    with pytest.raises(ValueError):
        trialink.Tlbf.build(pa.array(["a" * 64]), trialink.Key.load(master_key), fpr=2.0)
    with pytest.raises(trialink.InputError) as e:
        trialink.Tlbf.build(pa.array(["9991335055"]), trialink.Key.load(master_key), fpr=0.01)
    no_markers(e.value)
