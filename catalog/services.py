"""Writes and workflows for the catalog: imports, ratings, erasure."""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import tempfile
import time
from dataclasses import asdict
from datetime import timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.core.exceptions import ValidationError
from django.core.files.base import File
from django.db import IntegrityError, transaction
from django.utils import timezone

from catalog import freshness, importers, staging
from catalog.models import DataImport, Interaction, Item, Rater

logger = logging.getLogger(__name__)

ERRORS_SHOWN = 1000  # errors kept on the row for the page; every error goes to the CSV file


class ImportValidationError(Exception):
    """The uploaded file or its options cannot be imported; ``field`` names the form field."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


# --- Creating an import ----------------------------------------------------------------------


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
    cleaned["kind"] = kind
    return cleaned


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


# --- Running an import -------------------------------------------------------------------------


def data_import_run(*, import_id: int) -> None:
    """Claim a pending import and run it; a second call for the same import does nothing."""
    claimed = DataImport.objects.filter(pk=import_id, status=DataImport.Status.PENDING).update(
        status=DataImport.Status.RUNNING, started_at=timezone.now(), heartbeat_at=timezone.now()
    )
    if not claimed:
        logger.info("import %s was not pending; nothing to do", import_id)
        return
    data_import = DataImport.objects.get(pk=import_id)
    try:
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
        result = staging.merge(
            data_import.pk,
            timezone.now(),
            bulk_min_rows=settings.RECSITE_IMPORT_BULK_MIN_ROWS,
            ids=ids,
            staged=writer.rows_written,
            merge_memory_mb=settings.RECSITE_IMPORT_MERGE_MEMORY_MB,
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
    data_import.finished_at = timezone.now()
    for key, value in (counts or {}).items():
        setattr(data_import, key, value)
    data_import.save()
    if status == DataImport.Status.SUCCEEDED and not data_import.dry_run:
        freshness.mark_all_changed()  # new items, raters and interactions for every list
    logger.info("import %s finished: %s %s", data_import.pk, status, message)


# --- Ratings from the site and the API ---------------------------------------------------------


def rater_for_user(*, user: AbstractBaseUser) -> Rater:
    """The rater row of a site account, created on first use."""
    # Site accounts get an external id too, so every rater can be named the same way in the API.
    rater, _ = Rater.objects.get_or_create(user=user, defaults={"external_id": f"site:{user.pk}"})
    return rater


def interaction_record(
    *,
    rater: Rater,
    item: Item,
    value: float,
    event_type: str = Interaction.EventType.RATING,
    source: str = Interaction.Source.SITE,
    occurred_at: Any = None,
) -> Interaction:
    """Record (or replace) a rater's current value for an item and event type."""
    if event_type == Interaction.EventType.RATING and not (
        settings.RECSITE_RATING_MIN <= value <= settings.RECSITE_RATING_MAX
    ):
        raise ImportValidationError(
            f"rating {value} is outside the scale {settings.RECSITE_RATING_MIN:g}–"
            f"{settings.RECSITE_RATING_MAX:g}",
            field="value",
        )
    interaction, _ = Interaction.objects.update_or_create(
        rater=rater,
        item=item,
        event_type=event_type,
        defaults={"value": value, "source": source, "occurred_at": occurred_at or timezone.now()},
    )
    freshness.mark_rater_changed(rater.external_id)
    return interaction


#: The site's rating widget keeps one answer per item: a star rating or "not interested".
WIDGET_EVENT_TYPES = (Interaction.EventType.RATING, Interaction.EventType.NOT_INTERESTED)


def my_rating_set(
    *, rater: Rater, item: Item, value: float, event_type: str = Interaction.EventType.RATING
) -> Interaction:
    """Record the widget's answer and drop the other one (stars then "not interested", or back)."""
    with transaction.atomic():
        interaction = interaction_record(rater=rater, item=item, value=value, event_type=event_type)
        Interaction.objects.filter(
            rater=rater, item=item, event_type__in=WIDGET_EVENT_TYPES
        ).exclude(pk=interaction.pk).delete()
    return interaction


def my_rating_remove(*, rater: Rater, item_id: int) -> None:
    """Remove the rater's every interaction with the item (the widget's "remove")."""
    Interaction.objects.filter(rater=rater, item_id=item_id).delete()
    freshness.mark_rater_changed(rater.external_id)


def wait_for_import(import_id: int, timeout: float = 600.0, poll: float = 0.2) -> DataImport:
    """Block until an import finishes (CLI ``--wait`` and smoke checks)."""
    deadline = time.monotonic() + timeout
    while True:
        data_import = DataImport.objects.get(pk=import_id)
        if data_import.is_finished or time.monotonic() > deadline:
            return data_import
        time.sleep(poll)


# --- Feedback events ---------------------------------------------------------------------------


class FeedbackError(Exception):
    """A feedback event is invalid; ``index`` is its position in a batch, ``field`` the field."""

    def __init__(self, message: str, *, index: int | None = None, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.index = index
        self.field = field


def feedback_record_many(
    *, events: list[dict[str, Any]], source: str = Interaction.Source.API
) -> list[Interaction]:
    """Record a batch of events all-or-nothing; raters are created on their first event.

    Each event: ``rater`` and ``item`` (external ids), ``event_type`` (default rating),
    ``value`` (required for ratings, default 1), optional ``occurred_at``.
    """
    item_ids = {str(e.get("item")) for e in events}
    items = {i.external_id: i for i in Item.objects.filter(external_id__in=item_ids)}
    for index, event in enumerate(events):
        _check_event(event, items, index)
    with transaction.atomic():
        raters = {}
        for external_id in {str(e["rater"]) for e in events}:
            raters[external_id], _ = Rater.objects.get_or_create(external_id=external_id)
        return [
            interaction_record(
                rater=raters[str(e["rater"])],
                item=items[str(e["item"])],
                value=float(e.get("value", 1.0)),
                event_type=e.get("event_type", Interaction.EventType.RATING),
                source=source,
                occurred_at=e.get("occurred_at"),
            )
            for e in events
        ]


def _check_event(event: dict[str, Any], items: dict[str, Item], index: int) -> None:
    event_type = event.get("event_type", Interaction.EventType.RATING)
    if event_type not in Interaction.EventType.values:
        allowed = ", ".join(Interaction.EventType.values)
        raise FeedbackError(
            f"unknown event type {event_type!r}; allowed: {allowed}",
            index=index,
            field="event_type",
        )
    if str(event.get("item")) not in items:
        raise FeedbackError(f"unknown item {event.get('item')!r}", index=index, field="item")
    value = event.get("value")
    if event_type == Interaction.EventType.RATING:
        if value is None:
            raise FeedbackError("a rating needs a value", index=index, field="value")
        if not settings.RECSITE_RATING_MIN <= float(value) <= settings.RECSITE_RATING_MAX:
            raise FeedbackError(
                f"rating {value} is outside the scale {settings.RECSITE_RATING_MIN:g}–"
                f"{settings.RECSITE_RATING_MAX:g}",
                index=index,
                field="value",
            )


# --- Items -------------------------------------------------------------------------------------


def item_upsert(*, external_id: str, **fields: Any) -> tuple[Item, bool]:
    """Create an item or update the one with this external id; returns (item, created)."""
    item, created = Item.objects.update_or_create(external_id=external_id, defaults=fields)
    freshness.mark_all_changed()
    return item, created


def item_update(*, item: Item, **fields: Any) -> Item:
    for field, value in fields.items():
        setattr(item, field, value)
    item.save()
    freshness.mark_all_changed()
    return item


def item_delete(*, item: Item) -> None:
    """Delete an item with its interactions; every cached list that showed it is retired."""
    item.delete()
    freshness.mark_all_changed()


# --- Raters ------------------------------------------------------------------------------------


def rater_update(
    *, rater: Rater, external_id: str | None = None, attributes: dict[str, Any] | None = None
) -> Rater:
    """Rename a rater (its external id) and/or replace its attributes; None leaves a field alone.

    Raises Django's ValidationError keyed by field when the new external id is blank or names
    another rater; the API's exception handler turns it into the usual error body.
    """
    old_name = rater.external_id
    if external_id is not None:
        external_id = external_id.strip()
        if not external_id:
            raise ValidationError({"external_id": ["an external id cannot be blank"]})
        if Rater.objects.filter(external_id=external_id).exclude(pk=rater.pk).exists():
            raise ValidationError({"external_id": [f"{external_id!r} names another rater"]})
        rater.external_id = external_id
    if attributes is not None:
        rater.attributes = attributes
    try:
        with transaction.atomic():
            rater.save(update_fields=["external_id", "attributes"])
            freshness.mark_rater_changed(old_name)
            freshness.mark_rater_changed(rater.external_id)
    except IntegrityError as exc:  # another request took the id between the check and the save
        raise ValidationError({"external_id": [f"{external_id!r} names another rater"]}) from exc
    return rater


# --- Erasure and API keys ----------------------------------------------------------------------


def rater_erase(*, rater: Rater, delete_account: bool = True) -> None:
    """Delete a rater's interactions, precomputed lists and row (and their site account).

    Models trained before keep what they learnt until the next training, which no longer sees
    this rater; serving stops at once because the rater and their lists are gone.
    """
    user = rater.user
    with transaction.atomic():
        freshness.mark_rater_changed(rater.external_id)
        rater.delete()  # cascades to interactions and recommendation snapshots
        if delete_account and user is not None:
            user.delete()
    logger.info("erased rater %s", rater.pk)


API_KEY_PREFIX_LENGTH = 8


def api_key_create(
    *, name: str, scopes: list[str], created_by: AbstractBaseUser | None = None
) -> tuple[Any, str]:
    """Create a key; the raw key is returned once and only its hash is stored."""
    from catalog.models import ApiKey

    unknown = set(scopes) - set(ApiKey.Scope.values)
    if not scopes or unknown:
        raise ImportValidationError(
            f"choose scopes among {', '.join(ApiKey.Scope.values)}", field="scopes"
        )
    prefix = secrets.token_hex(API_KEY_PREFIX_LENGTH // 2)
    raw = f"rs_{prefix}_{secrets.token_urlsafe(32)}"
    key = ApiKey.objects.create(
        name=name,
        prefix=prefix,
        key_hash=_hash_key(raw),
        scopes=sorted(set(scopes)),
        created_by=created_by,
    )
    return key, raw


def api_key_revoke(*, key: Any) -> None:
    type(key).objects.filter(pk=key.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())


def api_key_authenticate(*, raw: str) -> Any | None:
    """The active key matching ``raw``, or None."""
    from catalog.models import ApiKey

    parts = raw.split("_")
    if len(parts) < 3 or parts[0] != "rs":
        return None
    key = ApiKey.objects.filter(prefix=parts[1], revoked_at__isnull=True).first()
    if key is None or not hmac.compare_digest(key.key_hash, _hash_key(raw)):
        return None
    now = timezone.now()
    # One write a minute at most: a write per request would cost more than the request.
    if key.last_used_at is None or now - key.last_used_at > timedelta(minutes=1):
        ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
    return key


def _hash_key(raw: str) -> str:
    # Keys carry 256 random bits, so a fast hash is enough (no password stretching needed).
    return hashlib.sha256(raw.encode()).hexdigest()
