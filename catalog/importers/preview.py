"""The first records of a file with the mapping applied, for the upload page."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pandas as pd

from .entities import read_items, read_raters
from .errors import RowError
from .interactions import read_interactions
from .layout import detect_layout
from .options import DEFAULT_OPTIONS, FileLayout, ReadOptions, check_options

_READERS = {"interactions": read_interactions, "items": read_items, "raters": read_raters}


def preview(
    path: str | Path,
    options: ReadOptions = DEFAULT_OPTIONS,
    layout: FileLayout | None = None,
    rows: int = 10,
) -> tuple[FileLayout, pd.DataFrame, list[RowError]]:
    """Layout, the valid rows among the first `rows` records, and the errors among them."""
    check_options(options)
    layout = layout or detect_layout(path, options=options)
    reader = _READERS[layout.kind]
    frames: list[pd.DataFrame] = []
    errors: list[RowError] = []
    seen = 0
    chunks = reader(path, replace(options, chunk_rows=max(rows, 1)), layout)
    for chunk in chunks:
        frames.append(chunk.frame)
        errors.extend(chunk.errors)
        seen += chunk.rows_read
        if seen >= rows:
            break
    chunks.close()  # stop reading the file
    frame = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    lines = sorted(
        {*frame.get("line", pd.Series(dtype="int64")).tolist(), *(e.line for e in errors)}
    )
    if len(lines) > rows:
        last = lines[rows - 1]
        frame = frame[frame["line"] <= last].reset_index(drop=True)
        errors = [error for error in errors if error.line is not None and error.line <= last]
    return layout, frame, errors
