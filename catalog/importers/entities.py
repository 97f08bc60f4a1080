"""Read and validate item files (catalogue) and rater files (demographics)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from . import convert
from .checks import Rejections, chunks_or_fail, column_label, prepare
from .layout import ML_100K_GENRE_FLAGS, ML_100K_GENRES, missing_columns_error, synthetic_columns
from .options import (
    DEFAULT_OPTIONS,
    MAX_ID_CHARS,
    FileLayout,
    ItemChunk,
    RaterChunk,
    ReadOptions,
)
from .source import RawChunk

_ITEM_FIELDS = ("external_id", "title", "description", "genres")
_NO_GENRES = "(no genres listed)"  # MovieLens's marker for an empty list
_GENRE_SPLIT = re.compile(r"\s*[|;,]\s*")
_TITLE_YEAR = r"\((\d{4})\)\s*$"
_INT_ATTRIBUTES = ("age", "year")
# MovieLens 1M users.dat codes (from its README).
_ML_1M_OCCUPATIONS = (
    "other", "academic/educator", "artist", "clerical/admin", "college/grad student",
    "customer service", "doctor/health care", "executive/managerial", "farmer", "homemaker",
    "K-12 student", "lawyer", "programmer", "retired", "sales/marketing", "scientist",
    "self-employed", "technician/engineer", "tradesman/craftsman", "unemployed", "writer",
)  # fmt: skip
_ML_1M_AGE_GROUPS = {
    "1": "Under 18", "18": "18-24", "25": "25-34", "35": "35-44", "45": "45-49", "50": "50-55",
    "56": "56+",
}  # fmt: skip


@dataclass(frozen=True)
class _Plan:
    layout: FileLayout
    external_id: str
    fields: dict[str, str]  # title/description/genres -> column
    attributes: dict[str, str]  # attribute key -> column
    genre_flags: tuple[tuple[str, str], ...] = ()  # (column, genre), MovieLens 100K

    def needed(self) -> list[str]:
        names = [self.external_id, *self.fields.values(), *self.attributes.values()]
        names += [column for column, _ in self.genre_flags]
        return list(dict.fromkeys(names))

    def label(self, column: str, role: str) -> str | None:
        return column_label(self.layout, column, role)

    def roles(self) -> dict[str, str]:
        """Each column read, with the role it plays (for its label in errors)."""
        roles = {self.external_id: "id"}
        roles.update({column: key for key, column in self.fields.items()})
        roles.update({column: key for key, column in self.attributes.items()})
        roles.update({column: "genres" for column, _ in self.genre_flags})
        return roles


def read_items(
    path: str | Path, options: ReadOptions = DEFAULT_OPTIONS, layout: FileLayout | None = None
) -> Iterator[ItemChunk]:
    """Yield validated items chunk by chunk (see ItemChunk for the frame)."""
    path, layout = prepare(path, options, layout, "items")
    plan = _plan(layout)
    for raw in chunks_or_fail(path, layout, plan.needed(), options):
        rejections = Rejections(raw.lines)
        frame = _items_frame(raw, plan, rejections)
        yield ItemChunk(frame, rejections.all_errors(raw), raw.rows_read)


def read_raters(
    path: str | Path, options: ReadOptions = DEFAULT_OPTIONS, layout: FileLayout | None = None
) -> Iterator[RaterChunk]:
    """Yield validated raters chunk by chunk (see RaterChunk for the frame)."""
    path, layout = prepare(path, options, layout, "raters")
    plan = _plan(layout)
    for raw in chunks_or_fail(path, layout, plan.needed(), options):
        rejections = Rejections(raw.lines)
        frame = _raters_frame(raw, plan, rejections)
        yield RaterChunk(frame, rejections.all_errors(raw), raw.rows_read)


def _plan(layout: FileLayout) -> _Plan:
    mapping = layout.column_map
    if not isinstance(mapping, dict) or "external_id" not in mapping:
        raise missing_columns_error(layout.kind, layout.columns)
    fields = {key: column for key, column in mapping.items() if key in _ITEM_FIELDS}
    attributes = {key: column for key, column in mapping.items() if key not in _ITEM_FIELDS}
    flags: tuple[tuple[str, str], ...] = ()
    if fields.get("genres") == ML_100K_GENRE_FLAGS:
        del fields["genres"]
        flags = tuple(zip(synthetic_columns(24)[5:], ML_100K_GENRES, strict=True))
    external_id = fields.pop("external_id")
    return _Plan(layout, external_id, fields, attributes, flags)


def _external_ids(raw: RawChunk, plan: _Plan, rejections: Rejections) -> pa.Array:
    column = raw.columns[plan.external_id]
    ids = convert.id_strings(column)
    label = plan.label(plan.external_id, "id")
    rejections.add(convert.empty_mask(ids), label, column, lambda _: "the id is empty")
    too_long = convert.longer_than(ids, MAX_ID_CHARS)
    message = f"the id is longer than {MAX_ID_CHARS} characters"
    rejections.add(too_long, label, column, lambda _: message)
    return ids


def _reject_nul_characters(raw: RawChunk, plan: _Plan, rejections: Rejections) -> None:
    for column, role in plan.roles().items():
        values = raw.columns[column]
        if pa.types.is_string(values.type) or pa.types.is_large_string(values.type):
            mask = convert.nul_mask(values)
            message = f"the {role.replace('_', ' ')} {convert.HOLDS_NUL}"
            rejections.add(mask, plan.label(column, role), values, lambda _, m=message: m)


def _items_frame(raw: RawChunk, plan: _Plan, rejections: Rejections) -> pd.DataFrame:
    _reject_nul_characters(raw, plan, rejections)
    ids = _external_ids(raw, plan, rejections)
    titles = _text_or_empty(raw, plan.fields.get("title"))
    attributes = _attributes(raw, plan, rejections)
    _add_years(attributes, titles)
    keep = ~rejections.rejected
    return pd.DataFrame(
        {
            "line": raw.lines[keep].astype(np.int64),
            "external_id": pd.Series(ids.filter(pa.array(keep)).to_pandas(), dtype="str"),
            "title": pd.Series(titles, dtype="str")[keep].reset_index(drop=True),
            "description": pd.Series(
                _text_or_empty(raw, plan.fields.get("description")), dtype="str"
            )[keep].reset_index(drop=True),
            "genres": _select(_genres(raw, plan), keep),
            "attributes": _select(attributes, keep),
        }
    )


def _raters_frame(raw: RawChunk, plan: _Plan, rejections: Rejections) -> pd.DataFrame:
    _reject_nul_characters(raw, plan, rejections)
    ids = _external_ids(raw, plan, rejections)
    attributes = _attributes(raw, plan, rejections)
    if plan.layout.format == "movielens-1m":
        _decode_ml_1m_codes(attributes)
    keep = ~rejections.rejected
    return pd.DataFrame(
        {
            "line": raw.lines[keep].astype(np.int64),
            "external_id": pd.Series(ids.filter(pa.array(keep)).to_pandas(), dtype="str"),
            "attributes": _select(attributes, keep),
        }
    )


def _text_or_empty(raw: RawChunk, column: str | None) -> list[str]:
    if column is None:
        return [""] * len(raw.lines)
    return convert.text(raw.columns[column]).to_pylist()


def _select(values: list, keep: np.ndarray) -> pd.Series:
    return pd.Series(
        [value for value, kept in zip(values, keep, strict=True) if kept], dtype=object
    )


def _genres(raw: RawChunk, plan: _Plan) -> list[list[str]]:
    if plan.genre_flags:
        flags = np.column_stack(
            [
                convert.to_numpy_bool(pc.equal(convert.text(raw.columns[c]), "1"))
                for c, _ in plan.genre_flags
            ]
        )
        names = [genre for _, genre in plan.genre_flags]
        return [[names[i] for i in np.flatnonzero(row)] for row in flags]
    column = plan.fields.get("genres")
    if column is None:
        return [[] for _ in raw.lines]
    return [
        [genre for genre in _GENRE_SPLIT.split(value) if genre and genre != _NO_GENRES]
        for value in convert.text(raw.columns[column]).to_pylist()
    ]


def _attributes(raw: RawChunk, plan: _Plan, rejections: Rejections) -> list[dict]:
    """One dict per row; empty cells are left out."""
    rows: list[dict] = [{} for _ in raw.lines]
    for key, column in plan.attributes.items():
        values = _attribute_values(raw, plan, key, column, rejections)
        for row, value in zip(rows, values, strict=True):
            if value not in ("", None):
                row[key] = value
    return rows


def _attribute_values(
    raw: RawChunk, plan: _Plan, key: str, column: str, rejections: Rejections
) -> list:
    values = convert.text(raw.columns[column])
    if key in _INT_ATTRIBUTES:
        label = plan.label(column, key)
        whole = convert.to_numpy_bool(pc.match_substring_regex(values, r"^\d{1,4}(\.0*)?$"))
        bad = ~whole & ~convert.empty_mask(values)
        rejections.add(
            bad, label, raw.columns[column], lambda v: f"{key} '{v}' is not a whole number"
        )
        return [
            int(float(v)) if ok else None for v, ok in zip(values.to_pylist(), whole, strict=True)
        ]
    if plan.layout.format == "movielens-100k" and key in ("release_date", "video_release_date"):
        return _movielens_dates(values)
    return values.to_pylist()


def _movielens_dates(values: pa.Array) -> list:
    """'01-Jan-1995' -> '1995-01-01' (unparseable dates are dropped, not errors)."""
    parsed = pd.to_datetime(
        pd.Series(values.to_pylist(), dtype=object), format="%d-%b-%Y", errors="coerce"
    )
    return [None if pd.isna(day) else day.strftime("%Y-%m-%d") for day in parsed]


def _add_years(attributes: list[dict], titles: list[str]) -> None:
    """MovieLens titles end in '(1995)': keep that year as an attribute unless one is given."""
    years = pd.Series(titles, dtype=object).str.extract(_TITLE_YEAR, expand=False)
    for row, year in zip(attributes, years, strict=True):
        if "year" in row:
            continue
        if isinstance(year, str):
            row["year"] = int(year)
        elif str(row.get("release_date", ""))[:4].isdigit():
            row["year"] = int(row["release_date"][:4])


def _decode_ml_1m_codes(attributes: list[dict]) -> None:
    for row in attributes:
        code = row.get("occupation")
        if isinstance(code, str) and code.isdigit() and int(code) < len(_ML_1M_OCCUPATIONS):
            row["occupation"] = _ML_1M_OCCUPATIONS[int(code)]
        group = _ML_1M_AGE_GROUPS.get(str(row.get("age")))
        if group:
            row["age_group"] = group
