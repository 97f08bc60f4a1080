"""Running an import on the worker: read, validate, stage and merge, all or nothing; and
reaping the imports whose worker was lost."""

from __future__ import annotations

import logging
import tempfile
from dataclasses import asdict
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.files.base import File
from django.db import transaction
from django.utils import timezone

from catalog import freshness, importers, jobs, staging
from catalog.models import DataImport, Item, Rater
from catalog.services.imports import ERRORS_SHOWN, read_options

logger = logging.getLogger(__name__)

# The phases a running import shows; the merge of a big file takes a while after the reading.
READING = "reading and checking rows"
MERGING = "merging into the catalog"


def data_import_run(*, import_id: int) -> None:
    """Claim a pending import and run it; a second call for the same import does nothing."""
    claimed = DataImport.objects.filter(pk=import_id, status=DataImport.Status.PENDING).update(
        status=DataImport.Status.RUNNING,
        started_at=timezone.now(),
        heartbeat_at=timezone.now(),
        phase=READING,
    )
    if not claimed:
        logger.info("import %s was not pending; nothing to do", import_id)
        return
    data_import = DataImport.objects.get(pk=import_id)
    try:
        with jobs.heartbeat(DataImport, import_id):  # the merge of a big file takes minutes
            outcome = _run(data_import)
    except importers.ImportFileError as exc:
        _finish(data_import, DataImport.Status.FAILED, message=str(exc))
    except Exception as exc:
        logger.exception("import %s crashed", import_id)
        _finish(data_import, DataImport.Status.FAILED, message=f"Internal error: {exc}")
        raise
    else:
        _finish(data_import, outcome.status, message=outcome.message, counts=outcome.counts)


class _Outcome:
    def __init__(self, status: str, message: str, counts: dict[str, int]) -> None:
        self.status = status
        self.message = message
        self.counts = counts


class _ErrorSink:
    """Collects row errors: the first ones for the page, every one as CSV in a spooled file."""

    def __init__(self) -> None:
        self.count = 0
        self.shown: list[dict[str, Any]] = []
        self.file = tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024, mode="w+b")

    def add(self, errors: list[importers.RowError]) -> None:
        if not errors:
            return
        room = ERRORS_SHOWN - len(self.shown)
        self.shown.extend(asdict(error) for error in errors[: max(room, 0)])
        text = importers.errors_to_csv(errors)
        if self.count:  # the header goes in once, with the first errors
            text = text.split("\n", 1)[1]
        self.file.write(text.encode("utf-8"))
        self.count += len(errors)


def _run(data_import: DataImport) -> _Outcome:
    options = read_options(data_import)
    layout = importers.detect_layout(data_import.file.path, data_import.original_name, options)
    sink = _ErrorSink()
    if layout.kind == "interactions":
        outcome = _run_interactions(data_import, options, layout, sink)
    else:
        outcome = _run_catalog_rows(data_import, options, layout, sink)
    if sink.count:
        sink.file.seek(0)
        data_import.errors_file.save(
            f"import-{data_import.pk}-errors.csv", File(sink.file), save=False
        )
    sink.file.close()
    data_import.errors = sink.shown
    data_import.error_count = sink.count
    return outcome


def _progress(data_import: DataImport, rows_read: int, rows_rejected: int) -> None:
    DataImport.objects.filter(pk=data_import.pk).update(
        rows_read=rows_read, rows_rejected=rows_rejected, heartbeat_at=timezone.now()
    )


def _run_interactions(
    data_import: DataImport,
    options: importers.ReadOptions,
    layout: importers.FileLayout,
    sink: _ErrorSink,
) -> _Outcome:
    staged = not data_import.dry_run
    if staged:
        staging.create(data_import.pk)
    rows_read = rows_valid = 0
    started = data_import.started_at or timezone.now()
    ids = staging.DistinctIds()
    try:
        with staging.Writer(data_import.pk, ids) as writer:
            for chunk in importers.read_interactions(data_import.file.path, options, layout):
                writer.wait()  # the previous chunk's COPY held the connection
                sink.add(chunk.errors)
                rows_read += chunk.rows_read
                rows_valid += len(chunk.frame)
                _progress(data_import, rows_read, sink.count)
                # All-or-nothing stops staging at the first error but reads on to list them all.
                if staged and (data_import.skip_invalid or not sink.count):
                    frame = chunk.frame
                    frame["occurred_at"] = frame["occurred_at"].fillna(started)
                    writer.write(frame)  # returns while PostgreSQL copies it
        counts = {"rows_read": rows_read, "rows_rejected": rows_read - rows_valid}
        failure = _failure_message(data_import, rows_read, rows_valid, sink.count)
        if failure:
            return _Outcome(DataImport.Status.FAILED, failure, counts)
        if data_import.dry_run:
            return _Outcome(
                DataImport.Status.SUCCEEDED,
                f"Dry run: {rows_valid:,} valid rows, nothing written.",
                counts,
            )
        DataImport.objects.filter(pk=data_import.pk).update(phase=MERGING)
        result = staging.merge(
            data_import.pk,
            timezone.now(),
            bulk_min_rows=settings.RECSITE_IMPORT_BULK_MIN_ROWS,
            ids=ids,
            staged=writer.rows_written,
            merge_memory_mb=settings.RECSITE_IMPORT_MERGE_MEMORY_MB,
            keys=writer.keys,
        )
        counts.update(
            rows_imported=result.rows_merged,
            duplicates_collapsed=result.duplicates_collapsed,
            raters_created=result.raters_created,
            items_created=result.items_created,
        )
        return _Outcome(DataImport.Status.SUCCEEDED, _success_message(counts), counts)
    finally:
        if staged:
            staging.drop(data_import.pk)


def _failure_message(
    data_import: DataImport, rows_read: int, rows_valid: int, error_count: int
) -> str:
    if rows_read == 0:
        return "The file has no data rows."
    if error_count and not data_import.skip_invalid:
        return (
            f"{error_count:,} invalid rows: nothing was imported. Fix them, or choose "
            "“skip invalid rows” to import the valid ones."
        )
    if rows_valid == 0:
        return "No valid rows: nothing was imported."
    return ""


def _success_message(counts: dict[str, int]) -> str:
    message = f"Imported {counts.get('rows_imported', 0):,} rows"
    if counts.get("rows_rejected"):
        message += f"; skipped {counts['rows_rejected']:,} invalid rows"
    return message + "."


def _run_catalog_rows(
    data_import: DataImport,
    options: importers.ReadOptions,
    layout: importers.FileLayout,
    sink: _ErrorSink,
) -> _Outcome:
    """Items and raters files: upsert each chunk, all inside one transaction."""
    model = Item if layout.kind == "items" else Rater
    reader = importers.read_items if layout.kind == "items" else importers.read_raters
    rows_read = rows_valid = 0
    seen: set[str] = set()
    duplicates = 0
    before = model.objects.count()
    with transaction.atomic():
        for chunk in reader(data_import.file.path, options, layout):
            sink.add(chunk.errors)
            rows_read += chunk.rows_read
            frame = chunk.frame.drop_duplicates("external_id", keep="last")
            duplicates += len(chunk.frame) - len(frame)
            duplicates += sum(1 for key in frame["external_id"] if key in seen)
            seen.update(frame["external_id"])
            rows_valid += len(chunk.frame)
            if not data_import.dry_run and (data_import.skip_invalid or not sink.count):
                _upsert_catalog_rows(model, frame)
        counts = {"rows_read": rows_read, "rows_rejected": rows_read - rows_valid}
        failure = _failure_message(data_import, rows_read, rows_valid, sink.count)
        if failure or data_import.dry_run:
            transaction.set_rollback(True)
    if failure:
        return _Outcome(DataImport.Status.FAILED, failure, counts)
    if data_import.dry_run:
        return _Outcome(DataImport.Status.SUCCEEDED, f"Dry run: {rows_valid:,} valid rows.", counts)
    created = model.objects.count() - before
    counts.update(
        rows_imported=len(seen),
        duplicates_collapsed=duplicates,
        **({"items_created": created} if model is Item else {"raters_created": created}),
    )
    return _Outcome(DataImport.Status.SUCCEEDED, _success_message(counts), counts)


def _upsert_catalog_rows(model: type[Item] | type[Rater], frame: Any) -> None:
    if model is Item:
        fields = ["title", "description", "genres", "attributes"]
        objs = [
            Item(
                external_id=row.external_id,
                title=str(row.title)[:500],
                description=row.description or "",
                genres=list(row.genres or []),
                attributes=dict(row.attributes or {}),
            )
            for row in frame.itertuples(index=False)
        ]
    else:
        fields = ["attributes"]
        objs = [
            Rater(external_id=row.external_id, attributes=dict(row.attributes or {}))
            for row in frame.itertuples(index=False)
        ]
    model.objects.bulk_create(
        objs,
        batch_size=2000,
        update_conflicts=True,
        unique_fields=["external_id"],
        update_fields=fields,
    )


def _finish(
    data_import: DataImport, status: str, message: str = "", counts: dict[str, int] | None = None
) -> None:
    data_import.status = status
    data_import.message = message
    data_import.phase = ""
    data_import.finished_at = timezone.now()
    for key, value in (counts or {}).items():
        setattr(data_import, key, value)
    data_import.save()
    if status == DataImport.Status.SUCCEEDED and not data_import.dry_run:
        freshness.mark_all_changed()  # new items, raters and interactions for every list
    logger.info("import %s finished: %s %s", data_import.pk, status, message)


def stale_imports_fail(*, older_than: timedelta = jobs.STALE_AFTER) -> int:
    """Mark RUNNING imports whose worker stopped beating as FAILED, and drop the staging
    tables that no running import owns; returns how many imports were marked.

    Nothing of a lost import was written: its merge transaction died with its connection.
    """
    reaped = jobs.stale_fail(
        DataImport.objects.filter(status=DataImport.Status.RUNNING),
        older_than=older_than,
        message_field="message",
        advice="Nothing was imported; upload the file again.",
    )
    if reaped:
        logger.warning("marked %s imports failed: their worker was lost", reaped)
    _leftover_stages_drop()
    return reaped


def _leftover_stages_drop() -> None:
    staged = staging.staged_import_ids()
    running = DataImport.objects.filter(pk__in=staged, status=DataImport.Status.RUNNING)
    for import_id in staged - set(running.values_list("pk", flat=True)):
        logger.info("dropping the staging table left behind by import %s", import_id)
        staging.drop(import_id)
