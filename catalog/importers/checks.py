"""Turn masks of bad entries into RowErrors, and drive a reader over a file's chunks."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .errors import ImportFileError, RowError, row_error
from .layout import detect_layout
from .options import FileLayout, ReadOptions, check_options
from .source import RawChunk, raw_chunks


def column_label(layout: FileLayout, column: str | None, role: str) -> str | None:
    """The column as the operator knows it: its header name, or "column 3 (item)"."""
    if column is None or layout.has_header:
        return column
    return f"{column} ({role})"


class Rejections:
    """Collects the errors of one chunk and remembers which rows they reject."""

    def __init__(self, lines: np.ndarray):
        self.lines = lines
        self.rejected = np.zeros(len(lines), dtype=bool)
        self.errors: list[RowError] = []

    def add(
        self,
        mask: np.ndarray,
        column: str | None,
        raw: pa.Array | None,
        message: Callable[[str], str],
    ) -> None:
        """Reject the rows in `mask`; `message` gets the stripped raw value of each one."""
        rows = np.flatnonzero(mask)
        if not rows.size:
            return
        self.rejected[rows] = True
        values = _as_text(raw.take(pa.array(rows))) if raw is not None else [None] * rows.size
        for row, value in zip(rows, values, strict=True):
            shown = "" if value is None else str(value).strip()
            self.errors.append(row_error(self.lines[row], column, value, message(shown)))

    def all_errors(self, raw: RawChunk) -> list[RowError]:
        errors = raw.errors + self.errors
        errors.sort(key=lambda error: error.line if error.line is not None else 0)
        return errors


def _as_text(values: pa.Array) -> list[str | None]:
    # Arrow's own text, not Python objects: a timestamp past year 9999 has no datetime.
    if pa.types.is_string(values.type):
        return values.to_pylist()
    try:
        return pc.cast(values, pa.string()).to_pylist()
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return [str(value) for value in values]


def prepare(
    path: str | Path, options: ReadOptions, layout: FileLayout | None, kind: str
) -> tuple[Path, FileLayout]:
    """Detect the layout unless given, and check that the file holds `kind`."""
    check_options(options)
    path = Path(path)
    if layout is None:
        wanted = replace(options, kind=kind) if options.kind == "auto" else options
        layout = detect_layout(path, options=wanted)
    if layout.kind != kind:
        raise ImportFileError(f"the file holds {layout.kind}, not {kind}")
    return path, layout


def chunks_or_fail(
    path: Path, layout: FileLayout, columns: list[str], options: ReadOptions
) -> Iterator[RawChunk]:
    """Raw chunks of the file; raise ImportFileError at the end if it held no records."""
    records = 0
    strict = options.encoding != "auto"
    for chunk in raw_chunks(path, layout, columns, chunk_rows=options.chunk_rows, strict=strict):
        records += chunk.rows_read
        yield chunk
    if records == 0:
        only = " (only a header)" if layout.has_header and layout.format != "parquet" else ""
        raise ImportFileError(f"the file has no data rows{only}")
