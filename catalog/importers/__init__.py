"""Read rating, item and rater files in bounded chunks and validate them, vectorised.

Pure pandas/pyarrow: no Django here. The catalog service feeds the chunks into staging
tables; this package only parses, checks and reports (RowError for a bad record,
ImportFileError when nothing in the file can be imported).

Typical use::

    layout = detect_layout(path, filename="u.data")
    for chunk in read_interactions(path, ReadOptions(), layout):
        stage(chunk.frame); report(chunk.errors)

Rules worth knowing:

- Ids are strings exactly as written (surrounding whitespace trimmed): `007` stays `007`,
  `12.0` stays `12.0`. Parquet integers become decimal strings, whole floats integer strings.
- Timestamps: digit-only values are Unix time, in milliseconds when their magnitude exceeds
  1e11 (seconds that large would be after the year 5138), else in seconds; text is ISO 8601,
  taken as UTC when it has no offset. An empty timestamp is NaT, not an error.
- `line` is the physical line where a record starts, counting line breaks inside quoted
  fields; blank lines are skipped but counted. Duplicates are kept (the service collapses
  them, the later line winning).
- encoding "auto": UTF-8 (BOM stripped), or Latin-1 when the first MiB is not UTF-8; stray
  non-UTF-8 bytes later in a UTF-8 file are decoded as Latin-1 rather than failing.

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
