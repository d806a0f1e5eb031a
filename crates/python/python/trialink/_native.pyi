"""Type stubs for trialink._native, the Rust extension (public API: trialink)."""

from os import PathLike
from typing import Dict, List, Optional, Sequence, Tuple, Union

import pyarrow as pa

__version__: str

_Path = Union[str, "PathLike[str]"]
_Text = Union[pa.Array, pa.ChunkedArray]

class TrialinkError(Exception):
    """Base class. ``code``: stable reason code; ``hint``: what to do next."""
    code: str
    hint: Optional[str]

class KeyFileError(TrialinkError):
    """A key or secret file was refused. ``line``: 1-based line, if known.
    Codes: bad_line, duplicate_key, missing_key, bad_scope,
    fingerprint_mismatch, not_utf8, too_large, permissions, exists, io, empty."""
    line: Optional[int]

class ScopeError(TrialinkError):
    """Codes: scope_length, scope_characters."""

class SchemaError(TrialinkError):
    """``json_path``: where in the schema (e.g. ``$.clkConfig.l``).
    Codes: json, missing, invalid, unknown_key, not_utf8, io, encoder."""
    json_path: Optional[str]

class InputError(TrialinkError):
    """A table, column or cell was refused. ``row``/``line``: position, if known.
    Codes include missing_column, no_such_column, ambiguous_column,
    identifier_kept, bad_cell, bad_token, output_exists."""
    row: Optional[int]
    line: Optional[int]

class LinkError(TrialinkError):
    """Codes: clk_length, unknown_pass, bad_blocking, bad_threshold."""
    row: Optional[int]

class FilterError(TrialinkError):
    """A TLBF filter was refused (code ``tlbf``)."""

class Key:
    """A trialink key loaded from a key file; never built from a string,
    printed or pickled."""
    @staticmethod
    def load(path: _Path) -> Key: ...
    def derive(self, scope: str) -> Key: ...
    @property
    def fingerprint(self) -> str: ...
    @property
    def scope(self) -> Optional[str]: ...
    @property
    def test_only(self) -> bool: ...

class Secret:
    """A CLK secret from a secret file, or derived from a key."""
    @staticmethod
    def load(path: _Path) -> Secret: ...
    @staticmethod
    def from_key(key: Key) -> Secret: ...

class Schema:
    """A linkage schema (clkhash v3 + trialink extensions)."""
    @staticmethod
    def load(path: _Path) -> Schema: ...
    @staticmethod
    def from_json(text: str) -> Schema: ...
    @property
    def features(self) -> List[str]: ...
    @property
    def encoded_features(self) -> List[str]: ...
    @property
    def l(self) -> int: ...
    @property
    def blocking_passes(self) -> List[str]: ...
    @property
    def digest(self) -> str: ...
    def describe(self) -> str: ...
    def bind(self, names: Sequence[str]) -> List[Optional[int]]: ...

class Tlbf:
    """A TLBF v1 filter of tokens."""
    @staticmethod
    def build(tokens: _Text, key: Key, fpr: float) -> Tlbf: ...
    @staticmethod
    def load(path: _Path) -> Tlbf: ...
    @staticmethod
    def from_bytes(data: bytes) -> Tlbf: ...
    def to_bytes(self) -> bytes: ...
    def save(self, path: str, *, overwrite: bool = False) -> None: ...
    def check(self, tokens: _Text) -> pa.BooleanArray: ...
    @property
    def k(self) -> int: ...
    @property
    def m(self) -> int: ...
    @property
    def n(self) -> int: ...
    @property
    def fingerprint(self) -> str: ...

def pseudonymise_arrays(
    nhs: _Text,
    dob: _Text,
    key: Key,
    *,
    dob_formats: Optional[Sequence[str]] = None,
    as_of: Optional[str] = None,
    with_nhs_token: bool = False,
    allow_blank: bool = False,
) -> Tuple[pa.StringArray, Optional[pa.StringArray], pa.StringArray]: ...
def encode_arrays(
    columns: Sequence[Optional[_Text]], schema: Schema, secret: Secret, *, blocking: bool = True
) -> Tuple[pa.StringArray, Optional[pa.StringArray], pa.StringArray, pa.StringArray]: ...
def link_arrays(
    left: Dict[str, _Text],
    right: Dict[str, _Text],
    *,
    threshold: Optional[float] = None,
    mode: str = "hybrid",
    blocking: Optional[Sequence[str]] = None,
    all_pairs: bool = False,
    max_block_pairs: int = ...,
) -> Tuple[pa.UInt64Array, pa.UInt64Array, pa.StringArray, pa.DoubleArray, pa.DoubleArray, pa.StringArray, dict]: ...
def candidates(left_clks: _Text, right_clks: _Text, threshold: float) -> Tuple[pa.UInt64Array, pa.UInt64Array, pa.DoubleArray]: ...
def dice_pairs(left_clks: _Text, right_clks: _Text) -> pa.DoubleArray: ...
def assign_greedy(left: pa.Int64Array, right: pa.Int64Array, score: pa.DoubleArray) -> pa.UInt64Array: ...
def block_pairs(
    right_side: pa.BooleanArray,
    item: _Text,
    id: pa.Int64Array,
    clks: _Text,
    nhs: Optional[_Text],
    threshold: float,
    max_block_pairs: int,
) -> Tuple[pa.Int64Array, pa.Int64Array, pa.DoubleArray, pa.BooleanArray]: ...
