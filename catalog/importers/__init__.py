"""Read rating, item and rater files in bounded chunks and validate them, vectorised.

Pure pandas/pyarrow: no Django here. The catalog service feeds the chunks into staging
tables; this package only parses, checks and reports (RowError for a bad record,
ImportFileError when nothing in the file can be imported).

Typical use::

    layout = detect_layout(path, filename="u.data")
    for chunk in read_interactions(path, ReadOptions(), layout):
        stage(chunk.frame); report(chunk.errors)

Modules: sniff (encoding, delimiter, header), layout (kinds, formats, column roles),
source (chunked reading with physical line numbers), convert (vectorised parsing),
interactions / entities (validation per kind), preview, errors.
"""

from __future__ import annotations

from .entities import read_items, read_raters
from .errors import ImportFileError, RowError, errors_to_csv, write_errors_csv
from .interactions import read_interactions
from .layout import detect_layout
from .options import (
    EVENT_TYPES,
    ColumnMap,
    FileLayout,
    InteractionChunk,
    ItemChunk,
    RaterChunk,
    ReadOptions,
)
from .preview import preview

__all__ = [
    "EVENT_TYPES",
    "ColumnMap",
    "FileLayout",
    "ImportFileError",
    "InteractionChunk",
    "ItemChunk",
    "RaterChunk",
    "ReadOptions",
    "RowError",
    "detect_layout",
    "errors_to_csv",
    "preview",
    "read_interactions",
    "read_items",
    "read_raters",
    "write_errors_csv",
]
