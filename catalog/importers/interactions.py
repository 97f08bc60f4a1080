"""Read and validate interaction files (ratings and implicit events)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from . import convert
from .checks import Rejections, chunks_or_fail, column_label, prepare
from .errors import ImportFileError
from .layout import missing_columns_error
from .options import (
    DEFAULT_OPTIONS,
    EVENT_TYPES,
    MAX_ABS_VALUE,
    MAX_ID_CHARS,
    ColumnMap,
    FileLayout,
    InteractionChunk,
    ReadOptions,
)
from .source import RawChunk

_ROLES = ("rater", "item", "value", "timestamp", "event_type")
_EVENT_SET = pa.array(EVENT_TYPES)


@dataclass(frozen=True)
class _Plan:
    """Columns to read and how to name them in errors."""

    columns: ColumnMap
    labels: dict[str, str | None]
    options: ReadOptions

    def needed(self) -> list[str]:
        names = [getattr(self.columns, role) for role in _ROLES]
        return list(dict.fromkeys(name for name in names if name is not None))


def read_interactions(
    path: str | Path, options: ReadOptions = DEFAULT_OPTIONS, layout: FileLayout | None = None
) -> Iterator[InteractionChunk]:
    """Yield validated interactions chunk by chunk (see InteractionChunk for the frame).

    Raises:
        ImportFileError: whole-file problems, possibly after some chunks were yielded (an
            encoding error deep in the file, a file with no data rows).
    """
    path, layout = prepare(path, options, layout, "interactions")
    plan = _plan(layout, options)
    for raw in chunks_or_fail(path, layout, plan.needed(), options):
        yield _validate(raw, plan)


def _plan(layout: FileLayout, options: ReadOptions) -> _Plan:
    columns = layout.column_map
    if not isinstance(columns, ColumnMap):
        raise missing_columns_error("interactions", layout.columns)
    if columns.value is None and columns.event_type is None:
        if options.default_event_type == "rating":
            raise ImportFileError(
                "the file has no rating (value) column; map one, or choose an implicit event "
                "type such as view, click or purchase for value-less interactions"
            )
    labels = {role: column_label(layout, getattr(columns, role), role) for role in _ROLES}
    return _Plan(columns, labels, options)


def _validate(raw: RawChunk, plan: _Plan) -> InteractionChunk:
    rejections = Rejections(raw.lines)
    rater = _ids(raw, plan, "rater", rejections)
    item = _ids(raw, plan, "item", rejections)
    events = _events(raw, plan, rejections)
    is_rating = convert.to_numpy_bool(pc.equal(events, "rating"))
    values = _values(raw, plan, is_rating, rejections)
    occurred = _timestamps(raw, plan, rejections)
    frame = _frame(raw.lines, rater, item, events, values, occurred, ~rejections.rejected)
    return InteractionChunk(frame, rejections.all_errors(raw), raw.rows_read)


def _ids(raw: RawChunk, plan: _Plan, role: str, rejections: Rejections) -> pa.Array:
    column = raw.columns[getattr(plan.columns, role)]
    ids = convert.id_strings(column)
    label = plan.labels[role]
    rejections.add(convert.empty_mask(ids), label, column, lambda _: f"the {role} id is empty")
    rejections.add(
        convert.nul_mask(ids), label, column, lambda _: f"the {role} id {convert.HOLDS_NUL}"
    )
    rejections.add(
        convert.longer_than(ids, MAX_ID_CHARS),
        label,
        column,
        lambda _: f"the {role} id is longer than {MAX_ID_CHARS} characters",
    )
    if raw.has_line_breaks:
        broken = convert.to_numpy_bool(pc.match_substring(ids, "\n"))
        rejections.add(
            broken,
            label,
            column,
            lambda _: f'the {role} id holds a line break; is a quote (") left open?',
        )
    return ids


def _events(raw: RawChunk, plan: _Plan, rejections: Rejections) -> pa.Array:
    default = plan.options.default_event_type
    name = plan.columns.event_type
    if name is None:
        return pa.repeat(pa.scalar(default, pa.string()), len(raw.lines))
    column = raw.columns[name]
    events = pc.replace_substring_regex(pc.utf8_lower(convert.text(column)), r"[\s-]+", "_")
    events = pc.if_else(pc.equal(events, ""), default, events)
    unknown = ~convert.to_numpy_bool(pc.is_in(events, value_set=_EVENT_SET))
    allowed = ", ".join(EVENT_TYPES)
    rejections.add(
        unknown,
        plan.labels["event_type"],
        column,
        lambda v: f"unknown event type '{v}'; expected one of: {allowed}",
    )
    return events


def _values(
    raw: RawChunk, plan: _Plan, is_rating: np.ndarray, rejections: Rejections
) -> np.ndarray:
    name = plan.columns.value
    if name is None:
        message = "a rating needs a value, but the file has no value column"
        rejections.add(is_rating, None, None, lambda _: message)
        return np.ones(len(raw.lines))
    column, label = raw.columns[name], plan.labels["value"]
    parsed = convert.numbers(column)
    values = parsed.values
    rejections.add(parsed.empty & is_rating, label, column, lambda _: "the rating is missing")
    rejections.add(parsed.invalid, label, column, lambda v: f"'{v}' is not a number")
    with np.errstate(invalid="ignore"):
        finite = np.isfinite(values)
        parsed_ok = ~parsed.empty & ~parsed.invalid
        rejections.add(
            parsed_ok & ~finite, label, column, lambda v: f"'{v}' is not a finite number"
        )
        low, high = plan.options.value_min, plan.options.value_max
        outside = is_rating & finite & ((values < low) | (values > high))
        too_large = finite & (np.abs(values) > MAX_ABS_VALUE) & ~outside  # any event type
    scale = f"{low:g}–{high:g}"
    rejections.add(outside, label, column, lambda v: f"rating {v} is outside the scale {scale}")
    rejections.add(too_large, label, column, lambda v: f"value {v} is beyond ±{MAX_ABS_VALUE:g}")
    return np.where(parsed.empty, 1.0, values)  # an event without a value counts once


def _timestamps(raw: RawChunk, plan: _Plan, rejections: Rejections) -> np.ndarray:
    name = plan.columns.timestamp
    if name is None:
        return np.full(len(raw.lines), convert.NAT, dtype=np.int64)
    column, label = raw.columns[name], plan.labels["timestamp"]
    parsed = convert.timestamps(column)
    rejections.add(
        parsed.invalid,
        label,
        column,
        lambda v: (
            f"'{v}' is not a timestamp (expected Unix seconds, Unix milliseconds or ISO 8601)"
        ),
    )
    rejections.add(
        parsed.out_of_range,
        label,
        column,
        lambda v: f"timestamp '{v}' is out of range (years 1678–2261)",
    )
    return parsed.values


def _frame(
    lines: np.ndarray,
    rater: pa.Array,
    item: pa.Array,
    events: pa.Array,
    values: np.ndarray,
    occurred: np.ndarray,
    keep: np.ndarray,
) -> pd.DataFrame:
    if not keep.all():
        mask = pa.array(keep)
        rater, item, events = rater.filter(mask), item.filter(mask), events.filter(mask)
        lines, values, occurred = lines[keep], values[keep], occurred[keep]
    return pd.DataFrame(
        {
            "line": lines.astype(np.int64, copy=False),
            "rater": _strings(rater),
            "item": _strings(item),
            "event_type": _strings(events),
            "value": values.astype(np.float64, copy=False),
            "occurred_at": pd.to_datetime(occurred.view("datetime64[ns]"), utc=True),
        }
    )


def _strings(array: pa.Array) -> pd.Series:
    return pd.Series(array.to_pandas(), dtype="str").reset_index(drop=True)
