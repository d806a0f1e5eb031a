"""trialink.spark on a local[2] Spark: tokens, CLKs and matches equal the
CLI's on the same synthetic population, and no key material in the plan."""

import csv
import os
import sys

import pyarrow as pa
import pytest

import trialink
from conftest import SCHEMA, combined, read_strings

pyspark = pytest.importorskip("pyspark")
from pyspark.sql import SparkSession  # noqa: E402

from trialink import spark as tls  # noqa: E402


@pytest.fixture(scope="module")
def spark():
    os.environ["PYSPARK_PYTHON"] = sys.executable
    os.environ["PYSPARK_DRIVER_PYTHON"] = sys.executable
    os.environ["SPARK_LOCAL_IP"] = "127.0.0.1"  # loopback only
    s = (
        SparkSession.builder.master("local[2]")
        .appName("trialink-tests")
        .config("spark.sql.shuffle.partitions", "4")
        .config("spark.ui.enabled", "false")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.driver.memory", "1g")
        .getOrCreate()
    )
    s.sparkContext.setLogLevel("ERROR")
    yield s
    s.stop()


def frame(spark, table: pa.Table, partitions=3):
    return spark.createDataFrame(table).repartition(partitions)


def key_hex(path):
    for line in open(path):
        if line.startswith("TRIALINK-KEY-1:"):
            return line.strip().split(":", 1)[1]
    raise AssertionError("no key line")


def plan_text(df) -> str:
    qe = df._jdf.queryExecution()
    return qe.toString() + qe.executedPlan().toString()


def test_pseudonymise_and_encode_equal_the_cli(spark, world, cli):
    src = world / "synth" / "registry.csv"
    key = world / "registry.key"
    cli("pseudonymise", "--key", key, "--input", src, "--output", world / "sp.tok.csv",
        "--as-of", "2026-01-01", "--with-nhs-token", "--force")
    cli("encode", "--schema", SCHEMA, "--key", key, "--input", src, "--output", world / "sp.clk.csv", "--force")
    table = read_strings(src).append_column("row", pa.array(range(read_strings(src).num_rows), pa.int64()))
    df = frame(spark, table)
    toks = tls.pseudonymise(df, str(key), as_of="2026-01-01", with_nhs_token=True, keep=["row"])
    clks = tls.encode(df, str(SCHEMA), key_path=str(key), keep=["row"])
    for d in (toks, clks):
        text = plan_text(d)
        assert key_hex(key) not in text and key_hex(world / "master.key") not in text
    t = toks.orderBy("row").toArrow()
    t = t.filter(pa.compute.is_null(t["reject"])).select(["token", "nhs_token"])
    assert t.equals(read_strings(world / "sp.tok.csv"))
    c = clks.orderBy("row").toArrow()
    c = c.filter(pa.compute.is_null(c["reject"])).select(["clk", "blocking"])
    assert c.equals(read_strings(world / "sp.clk.csv"))


def test_blocked_linkage_equals_cli_link(spark, world, cli):
    from test_cli_roundtrip import csv_bytes

    left, right = combined(world, "registry"), combined(world, "cohort")
    (world / "spl.csv").write_bytes(csv_bytes(left))
    (world / "spr.csv").write_bytes(csv_bytes(right))
    out = world / "sp.matches.csv"
    cli("link", "--left", world / "spl.csv", "--right", world / "spr.csv", "--threshold", "0.85",
        "--output", out, "--force")
    want = [(int(r["left"]) - 1, int(r["right"]) - 1, r["method"], r["score"], r["evidence"])
            for r in csv.DictReader(open(out))]
    lt = left.append_column("row", pa.array(range(left.num_rows), pa.int64()))
    rt = right.append_column("row", pa.array(range(right.num_rows), pa.int64()))
    got = tls.link(frame(spark, lt), frame(spark, rt, 2), id_column="row", threshold=0.85).toArrow()
    fmt = lambda s: "1" if s == 1.0 else f"{s:.6f}"  # noqa: E731
    rows = list(zip(got["left"].to_pylist(), got["right"].to_pylist(), got["method"].to_pylist(),
                    [fmt(s) for s in got["score"].to_pylist()], got["evidence"].to_pylist()))
    assert rows == want
    assert sum(1 for r in rows if r[2] == "fuzzy") > 0


@pytest.mark.parametrize(
    "cli_args, kwargs",
    [
        (["--blocking", "dob,family_yob"], dict(blocking=["dob", "family_yob"])),
        (["--max-block-pairs", "4"], dict(max_block_pairs=4)),
        (["--mode", "clk"], dict(mode="clk")),
    ],
)
def test_blocked_linkage_options_equal_cli_link(spark, world, cli, cli_args, kwargs):
    """Chosen passes, a small cap on a block's comparisons (blocks over it
    skipped whole) and CLK-only linkage: the blocks scored per partition
    give the CLI's matches."""
    from test_cli_roundtrip import csv_bytes

    left, right = combined(world, "registry"), combined(world, "cohort")
    (world / "spl.csv").write_bytes(csv_bytes(left))
    (world / "spr.csv").write_bytes(csv_bytes(right))
    out = world / "sp.options.csv"
    cli("link", "--left", world / "spl.csv", "--right", world / "spr.csv", "--threshold", "0.8", *cli_args,
        "--output", out, "--force")
    want = [(int(r["left"]) - 1, int(r["right"]) - 1, r["method"], r["evidence"]) for r in csv.DictReader(open(out))]
    lt = left.append_column("row", pa.array(range(left.num_rows), pa.int64()))
    rt = right.append_column("row", pa.array(range(right.num_rows), pa.int64()))
    got = tls.link(frame(spark, lt), frame(spark, rt, 2), id_column="row", threshold=0.8, **kwargs).toArrow()
    rows = list(zip(got["left"].to_pylist(), got["right"].to_pylist(), got["method"].to_pylist(), got["evidence"].to_pylist()))
    assert rows == want
    assert any(r[2] == "fuzzy" for r in rows)


def test_blocked_linkage_unknown_pass(spark, world):
    left = combined(world, "registry").append_column("row", pa.array(range(combined(world, "registry").num_rows), pa.int64()))
    with pytest.raises(trialink.LinkError) as e:
        tls.link(frame(spark, left), frame(spark, left, 2), id_column="row", threshold=0.85, blocking=["no_such_pass"])
    assert e.value.code == "unknown_pass"


def test_default_linkage_equals_cli_link(spark, world, cli):
    """Without a threshold Spark's matches are `trialink link`'s default
    (the fitted model): same pairs, methods, scores, probabilities, evidence."""
    from test_cli_roundtrip import cli_matches, csv_bytes, match_rows

    left, right = combined(world, "registry"), combined(world, "cohort")
    (world / "spl.csv").write_bytes(csv_bytes(left))
    (world / "spr.csv").write_bytes(csv_bytes(right))
    out = world / "sp.model.csv"
    cli("link", "--left", world / "spl.csv", "--right", world / "spr.csv", "--output", out, "--force")
    # Ids that are not row positions come back as given.
    lt = left.append_column("row", pa.array([10 * i + 3 for i in range(left.num_rows)], pa.int64()))
    rt = right.append_column("row", pa.array(range(right.num_rows), pa.int64()))
    got = tls.link(frame(spark, lt), frame(spark, rt, 2), id_column="row").toArrow()
    want = [((l * 10) + 3, *rest) for l, *rest in cli_matches(out)]
    assert match_rows(got) == want
    assert any(r[2] == "fuzzy" for r in want) and any(r[2] == "exact" for r in want)


def test_keys_cannot_be_captured(spark, world):
    k = trialink.Key.load(str(world / "registry.key"))
    df = spark.createDataFrame(pa.table({"x": ["1"]}))
    with pytest.raises(Exception):
        df.mapInArrow(lambda it: (k for _ in it), "x string").collect()
