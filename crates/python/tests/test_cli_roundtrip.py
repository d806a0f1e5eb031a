"""The Python API against the CLI on the same synthetic data: Arrow, CSV and
Parquet give the same tokens, CLKs, rejects and matches."""

import csv
import io

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import trialink
from conftest import SCHEMA, combined, read_strings



def csv_bytes(table: pa.Table) -> bytes:
    """A table written as the CLI writes CSV (minimal quoting, \\n)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(table.column_names)
    for row in zip(*[c.to_pylist() for c in table.columns]):
        w.writerow(["" if v is None else v for v in row])
    return buf.getvalue().encode()


def rejects(path):
    try:
        return [(int(r["line"]), r["reason"]) for r in csv.DictReader(open(path))]
    except FileNotFoundError:
        return []


def test_pseudonymise_matches_the_cli(world, cli):
    for side in ("registry", "cohort"):
        src = world / "synth" / f"{side}.csv"
        out = world / f"{side}.tok.csv"
        cli("pseudonymise", "--key", world / "registry.key", "--input", src, "--output", out,
            "--as-of", "2026-01-01", "--with-nhs-token")
        table = read_strings(src)
        py = trialink.pseudonymise(table, trialink.Key.load(str(world / "registry.key")),
                                   as_of="2026-01-01", with_nhs_token=True)
        accepted = py.filter(py["reject"].is_null()).select(["token", "nhs_token"])
        assert csv_bytes(accepted) == out.read_bytes()
        got = [(i + 2, r) for i, r in enumerate(py["reject"].to_pylist()) if r is not None]
        assert got == rejects(str(out) + ".rejects.csv")


def test_encode_matches_the_cli(world, cli):
    src = world / "synth" / "registry.csv"
    out = world / "registry.clk.csv"
    cli("encode", "--schema", SCHEMA, "--key", world / "registry.key", "--input", src, "--output", out)
    py = trialink.encode(read_strings(src), trialink.Schema.load(str(SCHEMA)),
                         trialink.Key.load(str(world / "registry.key")))
    accepted = py.filter(py["reject"].is_null()).select(["clk", "blocking"])
    assert csv_bytes(accepted) == out.read_bytes()


def test_link_matches_the_cli(world, cli):
    left, right = combined(world, "registry"), combined(world, "cohort")
    for name, t in (("l", left), ("r", right)):
        (world / f"{name}.link.csv").write_bytes(csv_bytes(t))
    out = world / "matches.csv"
    cli("link", "--left", world / "l.link.csv", "--right", world / "r.link.csv", "--threshold", "0.85",
        "--output", out, "--force")
    want = [(int(r["left"]) - 1, int(r["right"]) - 1, r["method"], r["score"], r["evidence"])
            for r in csv.DictReader(open(out))]
    got = trialink.link(left, right, threshold=0.85)
    fmt = lambda s: "1" if s == 1.0 else f"{s:.6f}"  # noqa: E731
    rows = list(zip(got["left"].to_pylist(), got["right"].to_pylist(), got["method"].to_pylist(),
                    [fmt(s) for s in got["score"].to_pylist()], got["evidence"].to_pylist()))
    assert rows == want
    assert any(m == "fuzzy" for _, _, m, _, _ in rows) and any(m == "exact" for _, _, m, _, _ in rows)


def cli_matches(path):
    """left, right (0-based), method, score, probability, evidence of a CLI match file."""
    return [(int(r["left"]) - 1, int(r["right"]) - 1, r["method"], r["score"], r["probability"], r["evidence"])
            for r in csv.DictReader(open(path))]


def match_rows(t):
    fmt = lambda s: "1" if s == 1.0 else f"{s:.6f}"  # noqa: E731
    return list(zip(t["left"].to_pylist(), t["right"].to_pylist(), t["method"].to_pylist(),
                    [fmt(s) for s in t["score"].to_pylist()], [f"{p:.6f}" for p in t["probability"].to_pylist()],
                    t["evidence"].to_pylist()))


def test_link_by_default_fits_the_clis_model(world, cli):
    """No threshold: the CLI's default decision (the fitted model), the same
    matches, scores, probabilities and evidence."""
    left, right = combined(world, "registry"), combined(world, "cohort")
    for name, t in (("l", left), ("r", right)):
        (world / f"{name}.link.csv").write_bytes(csv_bytes(t))
    out = world / "matches.model.csv"
    cli("link", "--left", world / "l.link.csv", "--right", world / "r.link.csv", "--output", out, "--force")
    got = trialink.link(left, right)
    rows = match_rows(got)
    assert rows == cli_matches(out)
    import json

    stats = json.loads(got.schema.metadata[b"stats"])
    assert stats["rule"] in ("model", "valley", "fallback")
    assert any(r[2] == "fuzzy" for r in rows)
    # Tokens or CLKs alone follow the CLI too (no blocking column: all pairs).
    lc, rc = left.select(["clk"]), right.select(["clk"])
    (world / "lc.csv").write_bytes(csv_bytes(lc))
    (world / "rc.csv").write_bytes(csv_bytes(rc))
    cli("link", "--left", world / "lc.csv", "--right", world / "rc.csv", "--output", world / "mc.csv", "--force")
    assert match_rows(trialink.link(lc, rc)) == cli_matches(world / "mc.csv")


def test_parquet_in_and_out_of_the_cli_equals_csv(world, cli):
    if not cli.parquet:
        pytest.skip("this trialink was built without the parquet feature")
    src = world / "synth" / "registry.csv"
    pq.write_table(read_strings(src), world / "registry.parquet")
    key = world / "registry.key"
    inputs = {"csv": src, "parquet": world / "registry.parquet"}
    for fmt, path in inputs.items():
        cli("pseudonymise", "--key", key, "--input", path,
            "--output", world / f"pq-from-{fmt}.tok.parquet", "--as-of", "2026-01-01")
        cli("encode", "--schema", SCHEMA, "--key", key, "--input", path,
            "--output", world / f"pq-from-{fmt}.clk.parquet")
    cli("pseudonymise", "--key", key, "--input", src, "--output", world / "pq.tok.csv", "--as-of", "2026-01-01")
    cli("encode", "--schema", SCHEMA, "--key", key, "--input", src, "--output", world / "pq.clk.csv")
    for kind in ("tok", "clk"):
        want = read_strings(world / f"pq.{kind}.csv")
        for fmt in ("csv", "parquet"):
            got = pq.read_table(world / f"pq-from-{fmt}.{kind}.parquet")
            # String columns, never null (an empty cell is "").
            assert got.to_pydict() == want.to_pydict(), (kind, fmt)
        # The rejects (positions, never values) are the same too.
        assert rejects(world / f"pq-from-parquet.{kind}.parquet.rejects.csv") == rejects(world / f"pq.{kind}.csv.rejects.csv")
