"""Error types for imports: per-record problems (RowError) and whole-file problems."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TextIO

MAX_VALUE_CHARS = 200
# NUL cannot be stored in PostgreSQL text or JSON; a report shows the symbol for it instead.
_NUL, _NUL_SHOWN = "\x00", "\u2400"

# A spreadsheet runs a cell that starts with one of these as a formula (CSV injection).
_FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class RowError:
    """One rejected record: where it is in the file and what is wrong with it.

    `line` is the 1-based physical line where the record starts (the header is line 1 when the
    file has one); for Parquet it is the 1-based row number. `column` is the column name as it
    appears in the file, or "column 3 (item)" for a file without a header.
    """

    line: int | None
    column: str | None
    value: str | None
    message: str


def row_error(line: int | None, column: str | None, value: object, message: str) -> RowError:
    """Build a RowError, truncating the offending value so one huge cell cannot bloat a report."""
    text = None if value is None else str(value).replace(_NUL, _NUL_SHOWN)
    if text is not None and len(text) > MAX_VALUE_CHARS:
        text = text[: MAX_VALUE_CHARS - 1] + "…"
    return RowError(
        line=None if line is None else int(line),
        column=column,
        value=text,
        message=message.replace(_NUL, _NUL_SHOWN),  # it may quote the value
    )


class ImportFileError(Exception):
    """The file as a whole cannot be imported (empty, not text, required columns missing, ...)."""

    def __init__(self, message: str, *, line: int | None = None, column: str | None = None):
        super().__init__(message)
        self.message = message
        self.line = line
        self.column = column

    def __str__(self) -> str:
        where = []
        if self.line is not None:
            where.append(f"line {self.line}")
        if self.column is not None:
            where.append(f"column {self.column!r}")
        return f"{', '.join(where)}: {self.message}" if where else self.message


def _neutralise(cell: object) -> str:
    text = "" if cell is None else str(cell)
    return "'" + text if text.startswith(_FORMULA_PREFIXES) else text


def write_errors_csv(errors: Iterable[RowError], out: TextIO) -> int:
    """Write errors as CSV (line,column,value,message) to `out`; return the number of rows.

    Cells that a spreadsheet would evaluate as a formula get a leading single quote.
    """
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["line", "column", "value", "message"])
    count = 0
    for error in errors:
        writer.writerow(
            [error.line or "", *map(_neutralise, (error.column, error.value, error.message))]
        )
        count += 1
    return count


def errors_to_csv(errors: Iterable[RowError]) -> str:
    """Return errors as CSV text (see write_errors_csv)."""
    buffer = io.StringIO()
    write_errors_csv(errors, buffer)
    return buffer.getvalue()
