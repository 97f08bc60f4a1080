"""Configuration and result types shared by the importer modules."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import pandas as pd

from .errors import RowError

EVENT_TYPES = ("rating", "view", "click", "purchase", "like", "not_interested")
# What the catalog tables hold (catalog.models): longer ids and larger values are row errors.
MAX_ID_CHARS = 255
MAX_ABS_VALUE = 1e9
KINDS = ("interactions", "items", "raters")
FORMATS = (
    "csv",
    "tsv",
    "parquet",
    "movielens-100k",
    "movielens-1m",
    "movielens-latest",
)


@dataclass(frozen=True)
class ColumnMap:
    """Which file column plays which role in an interactions file.

    Values are column names as in the file, or 0-based positions given as strings ("0", "1")
    for a file without a header (the synthetic names "column 1", "column 2" also work).
    """

    rater: str
    item: str
    value: str | None = None
    timestamp: str | None = None
    event_type: str | None = None


@dataclass(frozen=True)
class ReadOptions:
    """What the operator chose on the upload page; "auto"/None means detect it.

    For items and raters files `column_map` may be a mapping of field -> column
    ({"external_id": "movieId", "title": "name", "year": "year"}); keys other than
    external_id/title/description/genres become attributes.
    """

    kind: str = "auto"
    format: str = "auto"
    delimiter: str | None = None
    has_header: bool | None = None
    encoding: str = "auto"
    column_map: ColumnMap | Mapping[str, str] | None = None
    value_min: float = 0.5
    value_max: float = 5.0
    default_event_type: str = "rating"
    chunk_rows: int = 200_000


@dataclass(frozen=True)
class FileLayout:
    """What detect_layout decided about a file, shown to the operator before importing."""

    kind: str
    format: str
    delimiter: str | None
    has_header: bool
    encoding: str
    columns: list[str]
    column_map: ColumnMap | dict[str, str] | None
    description: str


@dataclass
class InteractionChunk:
    """Valid interactions of one chunk plus the records rejected in it.

    frame columns: line (int64), rater (str), item (str), event_type (str), value (float64),
    occurred_at (datetime64[ns, UTC], NaT when unknown).
    """

    frame: pd.DataFrame
    errors: list[RowError] = field(default_factory=list)
    rows_read: int = 0


@dataclass
class ItemChunk:
    """Valid items of one chunk.

    frame columns: line, external_id, title, description, genres (list[str]), attributes (dict).
    """

    frame: pd.DataFrame
    errors: list[RowError] = field(default_factory=list)
    rows_read: int = 0


@dataclass
class RaterChunk:
    """Valid raters of one chunk.

    frame columns: line, external_id, attributes (dict: age (int), gender, occupation, zip, ...).
    """

    frame: pd.DataFrame
    errors: list[RowError] = field(default_factory=list)
    rows_read: int = 0


DEFAULT_OPTIONS = ReadOptions()


def check_options(options: ReadOptions) -> None:
    """Reject option values that are programming errors rather than problems with the file."""
    if options.kind not in ("auto", *KINDS):
        raise ValueError(f"unknown kind {options.kind!r}; expected auto or one of {KINDS}")
    if options.format not in ("auto", *FORMATS):
        raise ValueError(f"unknown format {options.format!r}; expected auto or one of {FORMATS}")
    if options.default_event_type not in EVENT_TYPES:
        raise ValueError(f"unknown default_event_type {options.default_event_type!r}")
    if not options.value_min <= options.value_max:
        raise ValueError("value_min must not exceed value_max")
    if options.chunk_rows < 1:
        raise ValueError("chunk_rows must be at least 1")
