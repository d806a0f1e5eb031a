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
import pyarrow.compute as pc

import trialink

__all__ = ["pseudonymise", "encode", "link"]

# Per Python worker: loaded keys, secrets and schemas, by path.
_CACHE: Dict[tuple, object] = {}

# Wall seconds of the phases of the last blocked ``link`` on this driver
# (exact matches, blocks scored, 1:1 assignment), for benchmarks.
last_phases: Dict[str, float] = {}


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


def _probe(df) -> pa.Table:
    """An empty table with ``df``'s column names, to choose and check
    columns on the driver as the per-partition call will."""
    return pa.Table.from_arrays([pa.array([], pa.string()) for _ in df.columns], names=list(df.columns))


def _only(df, names):
    """``df`` with only the columns ``names`` (each once, in ``df``'s order)."""
    want = set(names)
    return df.select(*[df[c] for c in df.columns if c in want])


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
    checked = trialink.Key.load(key_path)  # fail fast on the driver (permissions, format)
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
    # Columns chosen and checked on the driver, on an empty table; only the
    # columns read go to the Python workers.
    probe = _probe(df)
    trialink.pseudonymise(probe, checked, **opts)
    del checked
    n = trialink._column(probe, nhs_column, trialink.NHS_COLUMNS, "NHS number")
    d = trialink._column(probe, dob_column, trialink.DOB_COLUMNS, "date of birth")
    df = _only(df, [df.columns[n], df.columns[d], *keep])

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
    # Fail fast on the driver (permissions, format); columns are chosen and
    # checked there, on an empty table, and only those read go to the
    # Python workers.
    if secret_path is not None:
        kind, path = "secret", os.path.abspath(secret_path)
        checked = trialink.Secret.load(path)
    else:
        kind, path = "key-secret", os.path.abspath(key_path)
        checked = trialink.Key.load(path)
    bound = schema.bind(list(df.columns))
    trialink.encode(_probe(df), schema, checked, blocking=blocking, keep=list(keep))
    del checked
    with_blocking = blocking and bool(schema.blocking_passes)
    names = ["clk"] + (["blocking"] if with_blocking else []) + ["reject", "reject_feature"]
    out_schema = StructType(_string_fields(names) + _kept_fields(df, keep))
    keep = list(keep)
    df = _only(df, [df.columns[c] for c in bound if c is not None] + keep)

    def run(batches):
        sch = _cached("schema", schema_path)
        secret = _cached(kind, path)
        for b in batches:
            yield from trialink.encode(b, sch, secret, blocking=blocking, keep=keep).to_batches()

    return df.mapInArrow(run, out_schema)


def _blocking_items(df, id_column, right_side, with_nhs):
    """(right_side, id, clk, nhs, item) for each blocking item (``pass=key``)
    of each row of ``df``; rows whose blocking cell repeats a pass or has
    more than 32 items are left out, as ``link`` leaves them without
    evidence."""
    from pyspark.sql import functions as F

    items = F.split(F.trim(F.col("blocking")), ";")
    rows = (
        df.where(F.col("blocking").isNotNull() & (F.trim(F.col("blocking")) != ""))
        .select(
            F.col(id_column).alias("id"),
            "clk",
            (F.col("nhs_token") if with_nhs else F.lit(None).cast("string")).alias("nhs"),
            items.alias("items"),
        )
        .withColumn("passes", F.transform("items", lambda x: F.substring_index(x, "=", 1)))
        .where((F.size("items") <= 32) & (F.size(F.array_distinct("passes")) == F.size("passes")))
    )
    return rows.select(F.lit(right_side).alias("right_side"), "id", "clk", "nhs", F.explode("items").alias("item"))


def _block_scorer(threshold, max_block_pairs, with_nhs):
    """Per partition of blocking items (every item of a block in the same
    partition): the pairs of each block scoring at least ``threshold``."""

    def run(batches):
        bs = list(batches)
        if not bs:
            return
        t = pa.Table.from_batches(bs)
        text = lambda c: t.column(c).combine_chunks().cast(pa.large_string())  # noqa: E731
        l, r, score, agree = trialink._native.block_pairs(
            t.column("right_side").combine_chunks(),
            text("item"),
            t.column("id").combine_chunks(),
            text("clk"),
            text("nhs") if with_nhs else None,
            threshold,
            max_block_pairs,
        )
        del t, bs
        yield pa.RecordBatch.from_arrays([l, r, score, agree], names=["l", "r", "score", "agree"])

    return run


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
    id order (a window over ``token``); fuzzy candidates are the pairs of
    the other rows sharing a keyed blocking key: the blocking items (row id,
    CLK and NHS token per ``pass=key``) are shuffled once so that each block
    is in one partition (``spark.sql.shuffle.partitions`` of them), and
    there, with ``mapInArrow``, the block's pairs are scored by Dice in Rust
    (blocks with more than ``max_block_pairs`` comparisons are skipped, as
    in the CLI) without the candidate pairs ever being materialised by
    Spark; pairs at or above ``threshold`` are collected to the driver and
    assigned greedily one to one, as the CLI does.

    Returns a DataFrame ``left``, ``right`` (ids), ``method``, ``score``,
    ``probability`` and ``evidence``, sorted by left then right.
    """
    from pyspark.sql import Window
    from pyspark.sql import functions as F
    from pyspark.sql.types import BooleanType, DoubleType, LongType, StructField, StructType

    if threshold is not None and not (0 < threshold <= 1):
        raise ValueError("threshold must be greater than 0 and at most 1")
    if mode not in ("hybrid", "token", "clk"):
        raise ValueError("mode must be `hybrid`, `token` or `clk`")
    spark = left.sparkSession
    if threshold is None:
        blk = list(blocking) if blocking is not None else None
        out = _link_on_driver(left, right, id_column, mode, blk, max_block_pairs)
        return spark.createDataFrame(out)
    import time

    last_phases.clear()
    t0 = time.perf_counter()
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
        n_exact = exact.count()
    last_phases["exact"] = time.perf_counter() - t0

    empty = pa.table(
        {
            "l": pa.array([], pa.int64()),
            "r": pa.array([], pa.int64()),
            "score": pa.array([], pa.float64()),
            "agree": pa.array([], pa.bool_()),
        }
    )
    fuzzy = empty
    if mode != "token" and {"clk", "blocking"} <= lcols and {"clk", "blocking"} <= rcols:
        with_nhs = mode == "hybrid" and "nhs_token" in lcols and "nhs_token" in rcols
        el, er = left.where(present("clk")), right.where(present("clk"))
        if exact is not None:
            # The rows tokens paired are left out; their ids are broadcast
            # (no shuffle of the rows) unless there are very many.
            small = F.broadcast if n_exact <= 10_000_000 else (lambda d: d)
            el = el.join(small(exact.select(F.col("l").alias(id_column))), id_column, "left_anti")
            er = er.join(small(exact.select(F.col("r").alias(id_column))), id_column, "left_anti")
        items = _blocking_items(el, id_column, False, with_nhs).unionByName(_blocking_items(er, id_column, True, with_nhs))
        pass_of = F.substring_index("item", "=", 1)
        if blocking is not None:
            passes = list(blocking)
            for side, x in (("left", el), ("right", er)):
                have = {r[0] for r in _blocking_items(x, id_column, False, False).select(pass_of).distinct().collect()}
                missing = [p for p in passes if p not in have]
                if missing:
                    e = trialink.LinkError(f"blocking pass `{missing[0]}` is not present on both sides")
                    e.code = "unknown_pass"
                    raise e
            items = items.where(pass_of.isin(passes))
        else:
            # Every pass on both sides (a pass on one side only makes no
            # blocks); field items are evidence, not passes.
            items = items.where(~(pass_of.startswith("fb_") | pass_of.startswith("fk_")))
        # One shuffle of the items puts every block in one partition; its
        # pairs are scored there, in Rust, and only those at or above the
        # threshold leave it.
        schema = StructType(
            [
                StructField("l", LongType()),
                StructField("r", LongType()),
                StructField("score", DoubleType()),
                StructField("agree", BooleanType()),
            ]
        )
        parts = int(spark.conf.get("spark.sql.shuffle.partitions"))
        scored = items.repartition(parts, F.lower("item")).mapInArrow(
            _block_scorer(threshold, max_block_pairs, with_nhs), schema
        )
        got = scored.toArrow()
        last_phases["blocks"] = time.perf_counter() - t0 - last_phases["exact"]
        if got.num_rows:
            # A pair sharing blocks in several passes is one candidate.
            g = got.group_by(["l", "r"], use_threads=False).aggregate([("score", "max"), ("agree", "max")])
            fuzzy = pa.table([g["l"], g["r"], g["score_max"], g["agree_max"]], names=empty.column_names).cast(empty.schema)

    t1 = time.perf_counter()
    chosen = trialink._native.assign_greedy(
        fuzzy.column("l").combine_chunks(),
        fuzzy.column("r").combine_chunks(),
        fuzzy.column("score").combine_chunks(),
    )
    fz = fuzzy.take(chosen)
    ex = exact.toArrow() if exact is not None else empty.select(["l", "r"])
    n_ex, n_fz = ex.num_rows, fz.num_rows
    agree = fz.column("agree").combine_chunks()
    out = pa.table(
        {
            "left": pa.concat_arrays([ex.column("l").combine_chunks().cast(pa.int64()), fz.column("l").combine_chunks()]),
            "right": pa.concat_arrays([ex.column("r").combine_chunks().cast(pa.int64()), fz.column("r").combine_chunks()]),
            "method": pa.concat_arrays([pa.repeat("exact", n_ex), pa.repeat("fuzzy", n_fz)]).cast(pa.string()),
            "score": pa.concat_arrays([pa.repeat(1.0, n_ex), fz.column("score").combine_chunks()]).cast(pa.float64()),
            "probability": pa.repeat(1.0, n_ex + n_fz).cast(pa.float64()),
            "evidence": pa.concat_arrays(
                [pa.repeat("token", n_ex).cast(pa.string()), pc.if_else(agree, "nhs", "keys").cast(pa.string())]
            ),
        }
    ).sort_by([("left", "ascending"), ("right", "ascending")])
    if exact is not None:
        exact.unpersist()
    last_phases["assign"] = time.perf_counter() - t1
    return spark.createDataFrame(out)

