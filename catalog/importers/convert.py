"""Vectorised conversions of raw columns (pyarrow arrays) into ids, numbers and timestamps.

Each converter returns the converted values plus boolean masks saying which entries were
empty and which could not be converted, so callers can turn masks into RowErrors without a
Python loop over valid rows.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

NAT = np.iinfo(np.int64).min
# A Unix timestamp above this many seconds (year 5138) must be in milliseconds; the price is
# that millisecond timestamps before 1973-03-03 (1e11 ms) are read as seconds.
MS_THRESHOLD = 10**11
_MAX_NS = np.iinfo(np.int64).max
_UNIT_NS = {"s": 10**9, "ms": 10**6, "us": 10**3, "ns": 1}
# Up to 18 digits always fits int64; longer integers take the float path, which reports them
# out of range (a Unix time that long is past any representable date anyway).
_INT_RE = r"^[+-]?\d{1,18}$"
_NUMBER_RE = r"^[+-]?(?:(?:\d+\.?\d*|\.\d+)(?:e[+-]?\d+)?|nan|inf|infinity)$"
# Arrow's ISO 8601 cast to a UTC timestamp needs an offset on every value.
_ISO_WITH_OFFSET = re.compile(r"^\d{4}-\d\d-\d\d[T ]\d\d:\d\d(:\d\d(\.\d+)?)?(Z|[+-]\d\d:?\d\d)$")
_FLOAT_RE = r"^[+-]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][+-]?\d+)?$"


@dataclass
class Parsed:
    """values: float64 numbers or int64 epoch nanoseconds (NAT where not parsed)."""

    values: np.ndarray
    empty: np.ndarray
    invalid: np.ndarray
    out_of_range: np.ndarray


def to_numpy_bool(mask: pa.Array) -> np.ndarray:
    return pc.fill_null(mask, False).to_numpy(zero_copy_only=False)


def text(array: pa.Array) -> pa.Array:
    """Strings with surrounding whitespace removed and nulls as ''."""
    if not (pa.types.is_string(array.type) or pa.types.is_large_string(array.type)):
        array = pc.cast(array, pa.string())
    array = pc.fill_null(array, "")
    return pc.utf8_trim_whitespace(array)


def empty_mask(strings: pa.Array) -> np.ndarray:
    lengths = pc.binary_length(strings)
    if len(strings) and pc.min(lengths).as_py() > 0:
        return np.zeros(len(strings), dtype=bool)
    return to_numpy_bool(pc.equal(lengths, 0))


#: Why a value holding NUL (0x00) is refused: PostgreSQL text and JSON cannot store it.
HOLDS_NUL = "holds a NUL character (0x00), which cannot be stored"


def longer_than(strings: pa.Array, limit: int) -> np.ndarray:
    """Which strings have more than ``limit`` characters."""
    return to_numpy_bool(pc.greater(pc.utf8_length(strings), limit))


def nul_mask(strings: pa.Array) -> np.ndarray:
    """Which strings hold a NUL character."""
    return to_numpy_bool(pc.match_substring(strings, "\x00"))


def id_strings(array: pa.Array) -> pa.Array:
    """Ids as strings exactly as written; Parquet numbers become their decimal strings."""
    if pa.types.is_floating(array.type):
        return _float_ids(array)
    return text(array)  # integers cast to their decimal string


def _float_ids(array: pa.Array) -> pa.Array:
    floats = pc.cast(array, pa.float64())
    integral = pc.and_(
        pc.is_finite(floats),
        pc.and_(pc.equal(pc.floor(floats), floats), pc.less(pc.abs(floats), 2.0**63)),
    )
    integral = pc.fill_null(integral, False)
    as_int = pc.cast(pc.cast(pc.if_else(integral, floats, 0.0), pa.int64()), pa.string())
    as_text = pc.if_else(pc.is_finite(floats), pc.cast(floats, pa.string()), "")
    return pc.fill_null(pc.if_else(integral, as_int, as_text), "")


def numbers(array: pa.Array) -> Parsed:
    """Parse numbers; NaN/inf parse (callers decide whether they are allowed)."""
    if pa.types.is_integer(array.type) or pa.types.is_floating(array.type):
        empty = to_numpy_bool(pc.is_null(array))
        # Unsafe: an integer past 2**53 may round, which no range check can tell apart.
        values = pc.cast(array, pa.float64(), safe=False).to_numpy(zero_copy_only=False)
        return Parsed(values, empty, np.zeros_like(empty), np.zeros_like(empty))
    strings = text(array)
    empty = empty_mask(strings)
    try:  # the fast path: every entry is a number
        values = pc.cast(strings, pa.float64()).to_numpy(zero_copy_only=False)
        invalid = np.zeros_like(empty)
    except pa.ArrowInvalid:
        values, invalid = _numbers_slowly(strings, empty)
    return Parsed(values, empty, invalid, np.zeros_like(empty))


def _numbers_slowly(strings: pa.Array, empty: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    numeric = to_numpy_bool(pc.match_substring_regex(strings, _NUMBER_RE, ignore_case=True))
    try:
        safe = pc.if_else(pa.array(numeric), strings, "nan")
        return pc.cast(safe, pa.float64()).to_numpy(zero_copy_only=False), ~numeric & ~empty
    except pa.ArrowInvalid:  # a spelling the pattern admits but Arrow refuses: ask pandas
        return _numbers_by_pandas(strings, empty)


def _numbers_by_pandas(strings: pa.Array, empty: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    objects = pd.Series(strings.to_numpy(zero_copy_only=False), dtype=object)
    values = pd.to_numeric(objects, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    nan_literal = to_numpy_bool(pc.match_substring_regex(strings, r"^[+-]?nan$", ignore_case=True))
    return values, np.isnan(values) & ~empty & ~nan_literal


def timestamps(array: pa.Array) -> Parsed:
    """Parse to epoch nanoseconds (UTC): Unix seconds or milliseconds, or ISO 8601 text.

    Text without an offset is taken as UTC. Digit-only text is always a Unix time.
    """
    kind = array.type
    if pa.types.is_timestamp(kind) or pa.types.is_date(kind):
        return _native_times(array)
    if pa.types.is_integer(kind) or pa.types.is_floating(kind):
        empty = to_numpy_bool(pc.is_null(array))
        if pa.types.is_integer(kind):
            ints = pc.cast(pc.fill_null(array, 0), pa.int64()).to_numpy()
            ns, out = _epoch_ints(ints, ~empty)
        else:
            floats = pc.cast(array, pa.float64()).to_numpy(zero_copy_only=False)
            ns, out = _epoch_floats(floats, ~empty)
        return Parsed(ns, empty, np.zeros_like(empty), out)
    return _text_times(text(array))


def _text_times(strings: pa.Array) -> Parsed:
    empty = empty_mask(strings)
    fast = _cast_like_first(strings, empty)
    if fast is not None:
        return fast
    ns = np.full(len(strings), NAT, dtype=np.int64)
    out = np.zeros_like(empty)
    is_int = to_numpy_bool(pc.match_substring_regex(strings, _INT_RE)) & ~empty
    is_float = to_numpy_bool(pc.match_substring_regex(strings, _FLOAT_RE)) & ~empty & ~is_int
    if is_int.any():
        safe = pc.if_else(pa.array(is_int), strings, "0")
        ns_int, out_int = _epoch_ints(pc.cast(safe, pa.int64()).to_numpy(), is_int)
        ns[is_int], out[is_int] = ns_int[is_int], out_int[is_int]
    if is_float.any():
        safe = pc.if_else(pa.array(is_float), strings, "0")
        values = pc.cast(safe, pa.float64()).to_numpy(zero_copy_only=False)
        ns_float, out_float = _epoch_floats(values, is_float)
        ns[is_float], out[is_float] = ns_float[is_float], out_float[is_float]
    rest = ~(empty | is_int | is_float)
    if rest.any():
        ns_iso, out_iso = _iso_times(strings.filter(pa.array(rest)))
        ns[rest], out[rest] = ns_iso, out_iso
    invalid = rest & (ns == NAT) & ~out
    return Parsed(ns, empty, invalid, out)


def _cast_like_first(strings: pa.Array, empty: np.ndarray) -> Parsed | None:
    """Whole-column Arrow casts guessed from the first value; None when the guess fails.

    Guessing first matters: a failing Arrow cast costs ~20 times a successful one.
    """
    if not len(strings) or empty.any():
        return None
    first = strings[0].as_py()
    none = np.zeros_like(empty)
    try:
        if re.fullmatch(_INT_RE, first):
            ns, out = _epoch_ints(pc.cast(strings, pa.int64()).to_numpy(), ~none)
            return Parsed(ns, empty, none, out)
        if _ISO_WITH_OFFSET.search(first):
            ns = pc.cast(strings, pa.timestamp("ns", "UTC")).cast(pa.int64()).to_numpy()
            return Parsed(ns, empty, none, none)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        pass
    return None


def _epoch_ints(values: np.ndarray, present: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    magnitude = np.abs(values)
    factor = np.where(magnitude > MS_THRESHOLD, 10**6, 10**9)
    out = present & (magnitude > _MAX_NS // factor)
    ok = present & ~out
    ns = np.where(ok, np.where(ok, values, 0) * factor, NAT)
    return ns, out


def _epoch_floats(values: np.ndarray, present: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    with np.errstate(invalid="ignore"):
        magnitude = np.abs(values)
        factor = np.where(magnitude > MS_THRESHOLD, 1e6, 1e9)
        scaled = values * factor
        out = present & ~(np.abs(scaled) < 9.2e18)  # NaN and inf count as out of range
    ok = present & ~out
    ns = np.where(ok, np.round(np.where(ok, scaled, 0.0)), 0).astype(np.int64)
    return np.where(ok, ns, NAT), out


def _iso_times(strings: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    objects = pd.Series(strings.to_numpy(zero_copy_only=False), dtype=object)
    parsed = pd.to_datetime(objects, format="ISO8601", utc=True, errors="coerce")
    return _scale_to_ns(parsed.array.asi8, _UNIT_NS[parsed.dt.unit])


def _native_times(array: pa.Array) -> Parsed:
    empty = to_numpy_bool(pc.is_null(array))
    if pa.types.is_date(array.type):
        array = pc.cast(pc.cast(array, pa.date32()), pa.int32())
        raw, factor = array.to_numpy(zero_copy_only=False), 86_400 * 10**9
    else:
        factor = _UNIT_NS[array.type.unit]
        raw = pc.cast(array, pa.int64()).to_numpy(zero_copy_only=False)
    raw = np.where(empty, NAT, np.nan_to_num(raw)).astype(np.int64)
    ns, out = _scale_to_ns(raw, factor)
    return Parsed(ns, empty, np.zeros_like(empty), out)


def _scale_to_ns(raw: np.ndarray, factor: int) -> tuple[np.ndarray, np.ndarray]:
    present = raw != NAT
    out = present & (np.abs(np.where(present, raw, 0)) > _MAX_NS // factor)
    ok = present & ~out
    return np.where(ok, np.where(ok, raw, 0) * factor, NAT), out
