"""Creating and configuring an import (the page, the API and the CLI share these)."""

from __future__ import annotations

import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.core.files.base import File

from catalog import importers
from catalog.models import DataImport

ERRORS_SHOWN = 1000  # errors kept on the row for the page; every error goes to the CSV file


class ImportValidationError(Exception):
    """The uploaded file or its options cannot be imported; ``field`` names the form field."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


def data_import_create(
    *,
    file: File,
    original_name: str,
    kind: str = DataImport.Kind.AUTO,
    options: dict[str, Any] | None = None,
    skip_invalid: bool = False,
    dry_run: bool = False,
    uploaded_by: AbstractBaseUser | AnonymousUser | None = None,
    start: bool = True,
) -> DataImport:
    """Store an uploaded file, detect its layout, and queue it (or keep it as a draft to review).

    Raises ImportValidationError (and keeps nothing) when the file cannot be read at all.
    """
    size = getattr(file, "size", None) or 0
    if size > settings.RECSITE_IMPORT_MAX_BYTES:
        raise ImportValidationError(
            f"{original_name} is {size:,} bytes, over the limit of "
            f"{settings.RECSITE_IMPORT_MAX_BYTES:,} bytes (RECSITE_IMPORT_MAX_BYTES)",
            field="file",
        )
    user = uploaded_by if uploaded_by is not None and uploaded_by.is_authenticated else None
    data_import = DataImport(
        original_name=original_name[:255],
        size_bytes=size,
        kind=kind,
        options=_clean_options(options or {}, kind),
        skip_invalid=skip_invalid,
        dry_run=dry_run,
        uploaded_by=user,
        status=DataImport.Status.DRAFT,
    )
    data_import.file.save(Path(original_name).name or "upload", file, save=False)
    try:
        data_import.layout = _detect(data_import)
    except (importers.ImportFileError, ImportValidationError) as exc:
        data_import.file.delete(save=False)
        raise ImportValidationError(_file_error_text(exc, original_name), field="file") from exc
    if start and _needs_mapping(data_import.layout):
        data_import.file.delete(save=False)
        raise ImportValidationError(_mapping_message(data_import.layout), field="column_map")
    data_import.save()
    if start:
        data_import_start(data_import=data_import)
    return data_import


def _needs_mapping(layout: dict[str, Any]) -> bool:
    return not layout.get("column_map")


def _mapping_message(layout: dict[str, Any]) -> str:
    return layout.get("description") or "Map the rater and item columns."


def data_import_configure(
    *,
    data_import: DataImport,
    kind: str,
    options: dict[str, Any],
    skip_invalid: bool,
    dry_run: bool,
) -> DataImport:
    """Change a draft's mapping and options; the layout is detected again with them."""
    if data_import.status != DataImport.Status.DRAFT:
        raise ImportValidationError("only an import awaiting confirmation can be changed")
    data_import.kind = kind
    data_import.options = _clean_options(options, kind)
    data_import.skip_invalid = skip_invalid
    data_import.dry_run = dry_run
    try:
        data_import.layout = _detect(data_import)
    except importers.ImportFileError as exc:
        raise ImportValidationError(_file_error_text(exc, data_import.original_name)) from exc
    data_import.save()
    return data_import


def data_import_start(*, data_import: DataImport) -> DataImport:
    """Move a draft to PENDING and queue it on the worker once the transaction commits."""
    from catalog.tasks import data_import_run_task

    if _needs_mapping(data_import.layout):
        raise ImportValidationError(_mapping_message(data_import.layout), field="column_map")
    updated = DataImport.objects.filter(pk=data_import.pk, status=DataImport.Status.DRAFT).update(
        status=DataImport.Status.PENDING
    )
    if updated:
        data_import.status = DataImport.Status.PENDING
        data_import_run_task.delay_on_commit(data_import.pk)
    return data_import


def data_import_preview(*, data_import: DataImport, rows: int = 10) -> dict[str, Any]:
    """The first rows of the file with the current mapping applied, for the review page."""
    options = read_options(data_import)
    try:
        layout = importers.detect_layout(data_import.file.path, data_import.original_name, options)
        layout, frame, errors = importers.preview(data_import.file.path, options, layout, rows=rows)
    except importers.ImportFileError as exc:
        return {"error": str(exc), "columns": [], "rows": [], "errors": []}
    frame = frame.drop(columns=["line"], errors="ignore")
    return {
        "error": "",
        "layout": layout,
        "columns": list(frame.columns),
        "rows": frame.astype(str).values.tolist(),
        "errors": errors,
    }


def _clean_options(options: dict[str, Any], kind: str) -> dict[str, Any]:
    cleaned = {key: value for key, value in options.items() if value not in (None, "", {})}
    column_map = cleaned.get("column_map")
    if isinstance(column_map, dict):
        column_map = {k: v for k, v in column_map.items() if v not in (None, "")}
        if column_map and not {"rater", "item"} <= column_map.keys():
            raise ImportValidationError(
                "a column mapping needs both the rater and the item column", field="column_map"
            )
        cleaned["column_map"] = column_map or None
    if "delimiter" in cleaned:
        cleaned["delimiter"] = _checked_delimiter(str(cleaned["delimiter"]))
    cleaned["kind"] = kind
    return cleaned


def _checked_delimiter(delimiter: str) -> str:
    delimiter = "\t" if delimiter == "\\t" else delimiter
    if delimiter == "::" or (len(delimiter) == 1 and delimiter not in '"\r\n\x00'):
        return delimiter
    raise ImportValidationError(
        f"the delimiter {delimiter!r} is not one character, \\t (tab) or :: "
        "(a quote or line break cannot be one either)",
        field="delimiter",
    )


def read_options(data_import: DataImport) -> importers.ReadOptions:
    """ReadOptions from the row's stored options and the site's rating scale."""
    stored = dict(data_import.options)
    column_map = stored.pop("column_map", None)
    values: dict[str, Any] = {
        "value_min": settings.RECSITE_RATING_MIN,
        "value_max": settings.RECSITE_RATING_MAX,
        "chunk_rows": settings.RECSITE_IMPORT_CHUNK_ROWS,
    }
    allowed = set(importers.ReadOptions.__dataclass_fields__)
    values.update({key: value for key, value in stored.items() if key in allowed})
    if column_map:
        values["column_map"] = importers.ColumnMap(**column_map)
    return importers.ReadOptions(**values)


def _detect(data_import: DataImport) -> dict[str, Any]:
    layout = importers.detect_layout(
        data_import.file.path, data_import.original_name, read_options(data_import)
    )
    detected = asdict(layout)
    if layout.column_map is not None and not isinstance(layout.column_map, dict):
        detected["column_map"] = asdict(layout.column_map)
    return detected


def _file_error_text(exc: Exception, name: str) -> str:
    return f"{name}: {exc}"


def wait_for_import(import_id: int, timeout: float = 600.0, poll: float = 0.2) -> DataImport:
    """Block until an import finishes (CLI ``--wait`` and smoke checks)."""
    deadline = time.monotonic() + timeout
    while True:
        data_import = DataImport.objects.get(pk=import_id)
        if data_import.is_finished or time.monotonic() > deadline:
            return data_import
        time.sleep(poll)
