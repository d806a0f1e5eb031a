"""trialink from Python: keyed tokens, clkhash-compatible CLKs, linkage and
TLBF filters over Apache Arrow, without exporting to CSV.

A thin layer over the same Rust libraries as the ``trialink`` command: the
results are byte for byte the CLI's (tokens as 64 lowercase hex characters,
CLKs as standard base64, blocking cells as ``pass=hex16;...``). Tables may
be ``pyarrow.Table`` or ``pyarrow.RecordBatch``; columns of any type are read
as text, the way the CLI reads a CSV cell (nulls are empty cells).

Keys and secrets are loaded from files (``Key.load``, ``Secret.load``); they
cannot be built from strings, printed or pickled. Errors are subclasses of
``TrialinkError`` with ``code``, ``hint`` and a position (``row``,
``line``, ``json_path``) where there is one, and never a value from the data.

>>> import pyarrow as pa, trialink                                   # doctest: +SKIP
>>> key = trialink.Key.load("registry.key")                          # doctest: +SKIP
>>> people = pa.table({"nhs_number": ["9991335056"], "dob": ["1980-01-05"]})  # doctest: +SKIP
>>> trialink.pseudonymise(people, key, as_of="2026-11-21").column("token")    # doctest: +SKIP
"""

from __future__ import annotations

from typing import Iterable, Optional, Sequence, Union

import pyarrow as pa

from . import _native
from ._native import (
    FilterError,
    InputError,
    Key,
    KeyFileError,
    LinkError,
    Schema,
    SchemaError,
    ScopeError,
    Secret,
    Tlbf,
    TrialinkError,
)

__version__ = _native.__version__

__all__ = [
    "Key",
    "Secret",
    "Schema",
    "Tlbf",
    "pseudonymise",
    "encode",
    "link",
    "candidates",
    "TrialinkError",
    "KeyFileError",
    "ScopeError",
    "SchemaError",
    "InputError",
    "LinkError",
    "FilterError",
    "NHS_COLUMNS",
    "DOB_COLUMNS",
]

#: Column names tried for the NHS number, case-insensitively (as the CLI).
NHS_COLUMNS = ("nhs_number", "nhs_no", "nhsnumber", "nhs")
#: Column names tried for the date of birth, case-insensitively (as the CLI).
DOB_COLUMNS = ("date_of_birth", "dob", "birth_date", "dateofbirth")

Tabular = Union[pa.Table, pa.RecordBatch]


def _error(cls, message: str, code: str, hint: Optional[str] = None):
    e = cls(message)
    e.code = code
    e.hint = hint
    e.row = None
    e.line = None
    return e


def _header_text(names: Sequence[str]) -> str:
    # Column names are configuration, not data; shown like the CLI shows a header.
    return ", ".join(f"`{n}`" for n in names)


def _column(table: Tabular, explicit: Optional[str], candidates: Iterable[str], what: str) -> int:
    """Find a column as the CLI does: by explicit name (exact, then
    case-insensitive), else the one name among ``candidates``."""
    names = list(table.schema.names)
    if explicit is not None:
        if explicit in names:
            return names.index(explicit)
        ci = [i for i, n in enumerate(names) if n.lower() == explicit.lower()]
        if len(ci) == 1:
            return ci[0]
        raise _error(
            InputError,
            f"no column named `{explicit}`; the table has: {_header_text(names)}",
            "no_such_column",
            "name the column explicitly",
        )
    cands = [c.lower() for c in candidates]
    found = [i for i, n in enumerate(names) if n.lower() in cands]
    if len(found) == 1:
        return found[0]
    if not found:
        raise _error(
            InputError,
            f"no {what} column found; tried {', '.join(candidates)}; the table has: {_header_text(names)}",
            "missing_column",
            "name the column explicitly",
        )
    raise _error(
        InputError,
        f"more than one column could be the {what} column: {_header_text([names[i] for i in found])}",
        "ambiguous_column",
        "name the column explicitly",
    )


def _text(col) -> pa.Array:
    """A column as one string (or binary) array, as the CLI reads CSV cells."""
    if isinstance(col, pa.ChunkedArray):
        col = col.combine_chunks() if col.num_chunks != 1 else col.chunk(0)
    t = col.type
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_binary(t) or pa.types.is_large_binary(t):
        return col
    if pa.types.is_dictionary(t):
        return _text(col.cast(t.value_type))
    return col.cast(pa.string())


def _table(data) -> Tabular:
    if isinstance(data, (pa.Table, pa.RecordBatch)):
        return data
    raise TypeError("expected a pyarrow.Table or pyarrow.RecordBatch")


def _keep(table: Tabular, keep: Sequence[str], forbidden: Sequence[int], what: str):
    out = []
    for k in keep:
        i = _column(table, k, (), k)
        if i in forbidden:
            raise _error(
                InputError,
                f"keep {k}: that column holds {what} and never leaves the input",
                "identifier_kept",
                "keep only non-identifying columns such as a reference",
            )
        out.append(i)
    return out


def pseudonymise(
    table: Tabular,
    key: Key,
    *,
    nhs_column: Optional[str] = None,
    dob_column: Optional[str] = None,
    dob_formats: Optional[Sequence[str]] = None,
    as_of: Optional[str] = None,
    with_nhs_token: bool = False,
    allow_blank: bool = False,
    keep: Sequence[str] = (),
) -> pa.Table:
    """Keyed tokens for each row, as ``trialink pseudonymise``.

    Returns a table with one row per input row: ``token`` (64 hex, null when
    rejected), ``nhs_token`` if asked, ``reject`` (the reason code, e.g.
    ``nhs_check_digit`` or ``dob_future``; null when accepted), then the
    ``keep`` columns unchanged. Identifier columns cannot be kept. Rows are
    processed in parallel in Rust; there is no Python loop per row.

    >>> out = trialink.pseudonymise(people, key, as_of="2026-11-21", keep=["ref"])  # doctest: +SKIP
    >>> out.filter(out["reject"].is_null())["token"]                                # doctest: +SKIP
    """
    table = _table(table)
    n = _column(table, nhs_column, NHS_COLUMNS, "NHS number")
    d = _column(table, dob_column, DOB_COLUMNS, "date of birth")
    ident = [i for i, name in enumerate(table.schema.names) if name.lower() in NHS_COLUMNS + DOB_COLUMNS]
    kept = _keep(table, keep, [n, d] + ident, "an identifier")
    token, nhs_token, reject = _native.pseudonymise_arrays(
        _text(table.column(n)),
        _text(table.column(d)),
        key,
        dob_formats=list(dob_formats) if dob_formats is not None else None,
        as_of=as_of,
        with_nhs_token=with_nhs_token,
        allow_blank=allow_blank,
    )
    cols, names = [token], ["token"]
    if with_nhs_token:
        cols.append(nhs_token)
        names.append("nhs_token")
    cols.append(reject)
    names.append("reject")
    for i in kept:
        cols.append(table.column(i))
        names.append(table.schema.names[i])
    return pa.Table.from_arrays(cols, names=names)


def encode(
    table: Tabular,
    schema: Schema,
    secret: Union[Secret, Key],
    *,
    blocking: bool = True,
    keep: Sequence[str] = (),
) -> pa.Table:
    """CLKs for each row, byte-identical to clkhash and to ``trialink encode``.

    ``schema`` is a ``Schema`` (``Schema.load(path)``); ``secret`` a
    ``Secret`` (``Secret.load(path)``, as ``--secret-file``) or a ``Key`` (as
    ``--key``). Columns are bound to features by name. Returns ``clk``
    (standard base64, null when rejected), ``blocking`` (keyed blocking keys,
    when the schema has passes and ``blocking``), ``reject`` (reason code),
    ``reject_feature`` (the feature at fault), then the ``keep`` columns.

    >>> enc = trialink.encode(people, trialink.Schema.load("schema.json"), trialink.Secret.load("clk.secret"))  # doctest: +SKIP
    """
    table = _table(table)
    if isinstance(secret, Key):
        secret = Secret.from_key(secret)
    if not isinstance(secret, Secret):
        raise TypeError("secret must be a trialink.Secret or trialink.Key (secrets are never plain strings)")
    names = list(table.schema.names)
    bound = schema.bind(names)
    encoded = schema.encoded_features
    forbidden = [c for c, f in zip(bound, schema.features) if c is not None and f in encoded]
    forbidden += [i for i, name in enumerate(names) if name.lower() in NHS_COLUMNS + DOB_COLUMNS]
    kept = _keep(table, keep, forbidden, "identifying data")
    columns = [_text(table.column(c)) if c is not None else None for c in bound]
    clk, blk, reject, reject_feature = _native.encode_arrays(columns, schema, secret, blocking=blocking)
    cols, out_names = [clk], ["clk"]
    if blk is not None:
        cols.append(blk)
        out_names.append("blocking")
    cols += [reject, reject_feature]
    out_names += ["reject", "reject_feature"]
    for i in kept:
        cols.append(table.column(i))
        out_names.append(names[i])
    return pa.Table.from_arrays(cols, names=out_names)


def _side(table: Tabular) -> dict:
    names = {n.lower(): i for i, n in enumerate(table.schema.names)}
    side = {}
    for k in ("token", "nhs_token", "clk", "blocking"):
        if k in names:
            side[k] = _text(table.column(names[k]))
    if "token" not in side and "clk" not in side:
        raise _error(
            InputError,
            f"no `token` or `clk` column; the table has: {_header_text(table.schema.names)}",
            "missing_column",
            "link tables from pseudonymise and/or encode",
        )
    return side


def link(
    left: Tabular,
    right: Tabular,
    *,
    threshold: Optional[float] = None,
    mode: str = "hybrid",
    blocking: Optional[Sequence[str]] = None,
    all_pairs: bool = False,
    max_block_pairs: int = 10_000 * 10_000,
) -> pa.Table:
    """Link two tables as ``trialink link`` does.

    Each side has any of ``token``, ``nhs_token`` (from ``pseudonymise``),
    ``clk`` and ``blocking`` (from ``encode``). Exact token matches first,
    then fuzzy CLK matches among rows sharing a blocking key (``blocking``
    selects passes; by default every pass when both sides have a
    ``blocking`` column, else all pairs; ``all_pairs`` compares every pair),
    assigned greedily one to one. Without ``threshold`` the decision is the
    CLI's default: a Fellegi–Sunter model fitted to the candidates (or an
    automatic Dice threshold), as ``trialink link`` without ``--threshold``;
    with it, Dice ``>= threshold`` as ``trialink link --threshold T``.

    Returns ``left``, ``right`` (0-based row numbers), ``method``
    (``exact``/``fuzzy``), ``score``, ``probability`` and ``evidence``,
    sorted by left then right row; run statistics (among them ``rule`` and
    ``dice_threshold``) are in the schema metadata key ``stats``.

    >>> m = trialink.link(registry_clks, cohort_clks)  # doctest: +SKIP
    """
    left, right = _table(left), _table(right)
    ls, rs = _side(left), _side(right)
    lcol, rcol, method, score, probability, evidence, stats = _native.link_arrays(
        ls,
        rs,
        threshold=threshold,
        mode=mode,
        blocking=list(blocking) if blocking is not None else None,
        all_pairs=all_pairs,
        max_block_pairs=max_block_pairs,
    )
    import json

    out = pa.Table.from_arrays(
        [lcol, rcol, method, score, probability, evidence],
        names=["left", "right", "method", "score", "probability", "evidence"],
    )
    return out.replace_schema_metadata({"stats": json.dumps(stats)})


def candidates(left_clks, right_clks, threshold: float) -> pa.Table:
    """Every (left, right) pair of CLKs (base64 arrays) with Dice at least
    ``threshold``: a table of ``left``, ``right`` (0-based) and ``score``,
    sorted by left then right. Compares all pairs; block first when large."""
    l, r, s = _native.candidates(_text(left_clks), _text(right_clks), threshold)
    return pa.Table.from_arrays([l, r, s], names=["left", "right", "score"])
