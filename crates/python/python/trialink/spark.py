"""trialink on Apache Spark: tokens and CLKs computed per partition with
``mapInArrow``, and linkage whose matches equal ``trialink link`` on the
same inputs: with a fixed ``threshold`` (as ``--threshold T``) blocked on
the cluster, without one (the CLI's default, a model fitted to every
candidate pair) decided on the driver.

Keys and secrets reach executors as files: functions take the *path* of a
key or secret file, which every executor must be able to read (a mounted
secret volume, or a shared file system; in ``local`` mode, the driver's
disk). Only the path enters the query plan; the key is loaded inside each
Python worker (once per worker) and never appears in the plan, the logs or
the Spark UI. A ``Key`` object cannot be pickled, so it cannot be captured
by accident.

>>> from trialink import spark as tls                                         # doctest: +SKIP
>>> tokens = tls.pseudonymise(df, "/secrets/registry.key", keep=["ref"])       # doctest: +SKIP
>>> clks = tls.encode(df, "schema.json", "/secrets/clk.secret", keep=["row"])  # doctest: +SKIP
>>> matches = tls.link(left, right, id_column="row")                           # doctest: +SKIP
>>> blocked = tls.link(left, right, id_column="row", threshold=0.85)          # doctest: +SKIP
"""

from __future__ import annotations

import os
from typing import Dict, Optional, Sequence

import pyarrow as pa

import trialink

__all__ = ["pseudonymise", "encode", "link"]

# Per Python worker: loaded keys, secrets and schemas, by path.
_CACHE: Dict[tuple, object] = {}


def _cached(kind: str, path: str):
    k = (kind, path)
    if k not in _CACHE:
        if kind == "key":
            _CACHE[k] = trialink.Key.load(path)
        elif kind == "secret":
            _CACHE[k] = trialink.Secret.load(path)
        elif kind == "key-secret":
            _CACHE[k] = trialink.Secret.from_key(trialink.Key.load(path))
        else:
            _CACHE[k] = trialink.Schema.load(path)
    return _CACHE[k]


def _string_fields(names):
    from pyspark.sql.types import StringType, StructField

    return [StructField(n, StringType(), True) for n in names]


def _kept_fields(df, keep):
    from pyspark.sql.types import StructField

    fields = {f.name: f for f in df.schema.fields}
    out = []
    for k in keep:
        if k not in fields:
            raise trialink.InputError(f"no column named `{k}` in the DataFrame")
        f = fields[k]
        out.append(StructField(f.name, f.dataType, True))
    return out


def pseudonymise(
    df,
    key_path: str,
    *,
    nhs_column: Optional[str] = None,
    dob_column: Optional[str] = None,
    dob_formats: Optional[Sequence[str]] = None,
    as_of: Optional[str] = None,
    with_nhs_token: bool = False,
    allow_blank: bool = False,
    keep: Sequence[str] = (),
):
    """``trialink.pseudonymise`` over a Spark DataFrame, per partition.

    Returns a DataFrame of ``token``, ``nhs_token`` (if asked), ``reject``
    and the ``keep`` columns, one row per input row. ``as_of`` should be
    given: executors otherwise each take their own today.
    """
    from pyspark.sql.types import StructType

    key_path = os.path.abspath(key_path)
    trialink.Key.load(key_path)  # fail fast on the driver (permissions, format)
    opts = dict(
        nhs_column=nhs_column,
        dob_column=dob_column,
        dob_formats=list(dob_formats) if dob_formats is not None else None,
        as_of=as_of,
        with_nhs_token=with_nhs_token,
        allow_blank=allow_blank,
        keep=list(keep),
    )
    names = ["token"] + (["nhs_token"] if with_nhs_token else []) + ["reject"]
    schema = StructType(_string_fields(names) + _kept_fields(df, keep))

    def run(batches):
        key = _cached("key", key_path)
        for b in batches:
            yield from trialink.pseudonymise(b, key, **opts).to_batches()

    return df.mapInArrow(run, schema)


def encode(
    df,
    schema_path: str,
    secret_path: Optional[str] = None,
    *,
    key_path: Optional[str] = None,
    blocking: bool = True,
    keep: Sequence[str] = (),
):
    """``trialink.encode`` over a Spark DataFrame, per partition.

    Give the CLK secret's file (``secret_path``, as ``--secret-file``) or a
    key file (``key_path``, as ``--key``). Returns ``clk``, ``blocking``
    (when the schema has passes), ``reject``, ``reject_feature`` and the
    ``keep`` columns.
    """
    from pyspark.sql.types import StructType

    if (secret_path is None) == (key_path is None):
        raise ValueError("give exactly one of secret_path and key_path")
    schema_path = os.path.abspath(schema_path)
    schema = trialink.Schema.load(schema_path)
    if secret_path is not None:
        kind, path = "secret", os.path.abspath(secret_path)
        trialink.Secret.load(path)
    else:
        kind, path = "key-secret", os.path.abspath(key_path)
        trialink.Key.load(path)
    schema.bind(list(df.columns))
    with_blocking = blocking and bool(schema.blocking_passes)
    names = ["clk"] + (["blocking"] if with_blocking else []) + ["reject", "reject_feature"]
    out_schema = StructType(_string_fields(names) + _kept_fields(df, keep))
    keep = list(keep)

    def run(batches):
        sch = _cached("schema", schema_path)
        secret = _cached(kind, path)
        for b in batches:
            yield from trialink.encode(b, sch, secret, blocking=blocking, keep=keep).to_batches()

    return df.mapInArrow(run, out_schema)


def _dice_partition(batches):
    for b in batches:
        score = trialink._native.dice_pairs(b.column(2), b.column(3))
        yield pa.RecordBatch.from_arrays([b.column(0), b.column(1), score], names=["l", "r", "score"])


def _exploded(df, id_column, eligible_ids):
    """(id, pass, key) for each blocking item of each eligible row; rows whose
    blocking cell repeats a pass or has more than 32 items are left out, as
    ``link`` leaves them without evidence."""
    from pyspark.sql import functions as F

    items = F.split(F.col("blocking"), ";")
    rows = (
        df.join(eligible_ids, id_column, "left_semi")
        .where(F.col("blocking").isNotNull() & (F.trim(F.col("blocking")) != ""))
        .select(F.col(id_column).alias("id"), items.alias("items"))
        .withColumn("passes", F.transform("items", lambda x: F.substring_index(x, "=", 1)))
        .where((F.size("items") <= 32) & (F.size(F.array_distinct("passes")) == F.size("passes")))
    )
    it = rows.select("id", F.explode("items").alias("item"))
    return it.select(
        "id",
        F.substring_index("item", "=", 1).alias("pass"),
        F.substring_index("item", "=", -1).alias("key"),
    )


_LINK_COLUMNS = ("token", "nhs_token", "clk", "blocking")


def _link_on_driver(left, right, id_column, mode, blocking, max_block_pairs):
    """``trialink.link`` without a threshold (the fitted model) over both
    sides collected in ``id_column`` order; rows are reported by their ids."""
    from pyspark.sql import functions as F

    def collect(df):
        cols = [c for c in _LINK_COLUMNS if c in df.columns]
        t = df.select(F.col(id_column).cast("long").alias("__id"), *cols).orderBy("__id").toArrow()
        ids = t.column("__id").combine_chunks()
        return ids, t.drop_columns(["__id"])

    lids, lt = collect(left)
    rids, rt = collect(right)
    m = trialink.link(lt, rt, mode=mode, blocking=blocking, max_block_pairs=max_block_pairs)
    out = pa.table(
        {
            "left": lids.take(m.column("left").combine_chunks()),
            "right": rids.take(m.column("right").combine_chunks()),
            "method": m.column("method"),
            "score": m.column("score"),
            "probability": m.column("probability"),
            "evidence": m.column("evidence"),
        }
    )
    return out.replace_schema_metadata(m.schema.metadata)


def link(
    left,
    right,
    *,
    id_column: str = "row",
    threshold: Optional[float] = None,
    mode: str = "hybrid",
    blocking: Optional[Sequence[str]] = None,
    max_block_pairs: int = 10_000 * 10_000,
):
    """Linkage on Spark whose matches equal ``trialink link``'s when
    ``id_column`` holds each row's 0-based position in its file.

    Each side has ``id_column`` (non-negative integers: the row order that
    breaks ties), and any of ``token``, ``nhs_token``, ``clk``,
    ``blocking``.

    Without ``threshold`` (the CLI's default) the decision is the model
    ``trialink link`` fits to every candidate pair of the two files (or its
    automatic Dice threshold): the link columns of both sides are collected
    to the driver in id order and linked there by the same library, so the
    driver must hold them (about 0.6 KB a row with CLKs, blocking keys and
    tokens).

    With ``threshold`` (as ``trialink link --threshold T``) the work is
    spread over the cluster: exact matches pair equal tokens one to one in
    id order (a window over ``token``); fuzzy candidates are the pairs
    sharing a keyed blocking key (a Spark join; blocks with more than
    ``max_block_pairs`` comparisons are skipped, as in the CLI) scored by
    Dice per partition with ``mapInArrow``; pairs at or above ``threshold``
    are collected to the driver and assigned greedily one to one, as the
    CLI does.

    Returns a DataFrame ``left``, ``right`` (ids), ``method``, ``score``,
    ``probability`` and ``evidence``, sorted by left then right.
    """
    from pyspark.sql import Window
    from pyspark.sql import functions as F
    from pyspark.sql.types import DoubleType, LongType, StringType, StructField, StructType

    if threshold is not None and not (0 < threshold <= 1):
        raise ValueError("threshold must be greater than 0 and at most 1")
    if mode not in ("hybrid", "token", "clk"):
        raise ValueError("mode must be `hybrid`, `token` or `clk`")
    spark = left.sparkSession
    if threshold is None:
        blk = list(blocking) if blocking is not None else None
        out = _link_on_driver(left, right, id_column, mode, blk, max_block_pairs)
        return spark.createDataFrame(out)
    lcols, rcols = set(left.columns), set(right.columns)
    left = left.withColumn(id_column, F.col(id_column).cast("long"))
    right = right.withColumn(id_column, F.col(id_column).cast("long"))
    present = lambda c: F.col(c).isNotNull() & (F.col(c) != "")  # noqa: E731
    exact = None
    if mode != "clk" and "token" in lcols and "token" in rcols:
        # The k-th left row with a token pairs with the k-th right row with it.
        w = Window.partitionBy("token").orderBy(id_column)
        lt = left.where(present("token")).select(F.col(id_column).alias("l"), "token", F.row_number().over(w).alias("k"))
        rt = right.where(present("token")).select(F.col(id_column).alias("r"), "token", F.row_number().over(w).alias("k"))
        exact = lt.join(rt, ["token", "k"]).select("l", "r").cache()

    empty = pa.table({"l": pa.array([], pa.int64()), "r": pa.array([], pa.int64()), "score": pa.array([], pa.float64())})
    fuzzy, agreeing = empty, set()
    if mode != "token" and {"clk", "blocking"} <= lcols and {"clk", "blocking"} <= rcols:
        el = left.where(present("clk")).select(id_column)
        er = right.where(present("clk")).select(id_column)
        if exact is not None:
            el = el.join(exact.select(F.col("l").alias(id_column)), id_column, "left_anti")
            er = er.join(exact.select(F.col("r").alias(id_column)), id_column, "left_anti")
        pairs = _blocked_pairs(left, right, el, er, id_column, blocking, max_block_pairs)
        with_nhs = mode == "hybrid" and "nhs_token" in lcols and "nhs_token" in rcols
        lsel = [F.col(id_column).alias("l"), F.col("clk").alias("lc")]
        rsel = [F.col(id_column).alias("r"), F.col("clk").alias("rc")]
        if with_nhs:
            lsel.append(F.col("nhs_token").alias("ln"))
            rsel.append(F.col("nhs_token").alias("rn"))
        cand = pairs.join(left.select(*lsel), "l").join(right.select(*rsel), "r")
        if with_nhs:
            # Two different NHS numbers are two people (the CLI's veto).
            cand = cand.where(~(present("ln") & present("rn") & (F.col("ln") != F.col("rn"))))
        schema = StructType([StructField("l", LongType()), StructField("r", LongType()), StructField("score", DoubleType())])
        scored = cand.select("l", "r", "lc", "rc").mapInArrow(_dice_partition, schema).where(F.col("score") >= threshold)
        if with_nhs:
            scored = scored.join(cand.select("l", "r", (present("ln") & (F.col("ln") == F.col("rn"))).alias("agree")), ["l", "r"])
            fuzzy = scored.toArrow()
            agree = fuzzy.column("agree").to_pylist()
            agreeing = {(l, r) for l, r, a in zip(fuzzy.column("l").to_pylist(), fuzzy.column("r").to_pylist(), agree) if a}
        else:
            fuzzy = scored.toArrow()
        if fuzzy.num_rows == 0:
            fuzzy = empty

    chosen = trialink._native.assign_greedy(
        fuzzy.column("l").combine_chunks().cast(pa.int64()),
        fuzzy.column("r").combine_chunks().cast(pa.int64()),
        fuzzy.column("score").combine_chunks().cast(pa.float64()),
    )
    fz = fuzzy.take(chosen)
    ex = exact.toArrow() if exact is not None else empty
    n_ex = ex.num_rows
    fl, fr = fz.column("l").to_pylist(), fz.column("r").to_pylist()
    out = pa.table(
        {
            "left": pa.concat_arrays([ex.column("l").combine_chunks().cast(pa.int64()), pa.array(fl, pa.int64())]),
            "right": pa.concat_arrays([ex.column("r").combine_chunks().cast(pa.int64()), pa.array(fr, pa.int64())]),
            "method": pa.array(["exact"] * n_ex + ["fuzzy"] * len(fl)),
            "score": pa.concat_arrays([pa.array([1.0] * n_ex), fz.column("score").combine_chunks().cast(pa.float64())]),
            "probability": pa.array([1.0] * (n_ex + len(fl)), pa.float64()),
            "evidence": pa.array(["token"] * n_ex + ["nhs" if (l, r) in agreeing else "keys" for l, r in zip(fl, fr)]),
        }
    ).sort_by([("left", "ascending"), ("right", "ascending")])
    if exact is not None:
        exact.unpersist()
    return spark.createDataFrame(out)


def _blocked_pairs(left, right, el, er, id_column, blocking, max_block_pairs):
    """Distinct (l, r) pairs of eligible rows sharing a key in a selected
    pass, leaving out blocks of more than ``max_block_pairs`` comparisons."""
    from pyspark.sql import functions as F

    xl, xr = _exploded(left, id_column, el), _exploded(right, id_column, er)
    passes = sorted(
        set(r[0] for r in xl.select("pass").distinct().collect()) & set(r[0] for r in xr.select("pass").distinct().collect())
    )
    if blocking is not None:
        missing = [p for p in blocking if p not in passes]
        if missing:
            e = trialink.LinkError(f"blocking pass `{missing[0]}` is not present on both sides")
            e.code = "unknown_pass"
            raise e
        passes = list(blocking)
    xl, xr = xl.where(F.col("pass").isin(passes)), xr.where(F.col("pass").isin(passes))
    sizes = (
        xl.groupBy("pass", "key")
        .agg(F.count("*").alias("nl"))
        .join(xr.groupBy("pass", "key").agg(F.count("*").alias("nr")), ["pass", "key"])
        .where(F.col("nl") * F.col("nr") <= max_block_pairs)
        .select("pass", "key")
    )
    return (
        xl.join(sizes, ["pass", "key"], "left_semi")
        .select(F.col("id").alias("l"), "pass", "key")
        .join(xr.select(F.col("id").alias("r"), "pass", "key"), ["pass", "key"])
        .select("l", "r")
        .distinct()
    )
