"""Bulk path for interaction imports: stage validated rows, then merge them in one transaction.

Rows go into a per-import staging table (UNLOGGED and filled by ``COPY`` on PostgreSQL,
``executemany`` on SQLite). Nothing touches the catalog tables until :func:`merge`, which runs in
one transaction: items and raters are upserted on ``external_id``, duplicate rows of the file
collapse to the latest (by timestamp, then by line), and interactions are upserted on
``(rater, item, event_type)`` so that importing the same file twice leaves the same rows.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import datetime

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv
from django.db import connection, transaction

COLUMNS = ("line", "rater", "item", "event_type", "value", "occurred_epoch")


@dataclass(frozen=True)
class MergeResult:
    rows_staged: int
    rows_merged: int
    duplicates_collapsed: int
    raters_created: int
    items_created: int


def staging_table(import_id: int) -> str:
    return f"catalog_import_staging_{int(import_id)}"


def is_postgres() -> bool:
    return connection.vendor == "postgresql"


def create(import_id: int) -> str:
    """(Re)create an empty staging table; a leftover from a crashed attempt is dropped first."""
    table = staging_table(import_id)
    drop(import_id)
    unlogged = "UNLOGGED " if is_postgres() else ""
    text = "text" if is_postgres() else "TEXT"
    real = "double precision" if is_postgres() else "REAL"
    with connection.cursor() as cursor:
        cursor.execute(
            f"CREATE {unlogged}TABLE {table} (line bigint NOT NULL, rater {text} NOT NULL, "
            f"item {text} NOT NULL, event_type {text} NOT NULL, value {real} NOT NULL, "
            f"occurred_epoch {real} NOT NULL)"
        )
    return table


def drop(import_id: int) -> None:
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {staging_table(import_id)}")


def write(import_id: int, frame: pd.DataFrame) -> None:
    """Append validated rows (columns of ``importers.InteractionChunk.frame``) to the stage."""
    if frame.empty:
        return
    rows = pd.DataFrame(
        {
            "line": frame["line"].to_numpy(),
            "rater": frame["rater"].astype(str).to_numpy(),
            "item": frame["item"].astype(str).to_numpy(),
            "event_type": frame["event_type"].astype(str).to_numpy(),
            "value": frame["value"].to_numpy(dtype="float64"),
            "occurred_epoch": _epoch_seconds(frame["occurred_at"]),
        }
    )
    table = staging_table(import_id)
    if is_postgres():
        _copy(table, rows)
    else:
        # One transaction per chunk: in autocommit every row would be its own transaction.
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.executemany(
                f"INSERT INTO {table} VALUES (?, ?, ?, ?, ?, ?)",
                rows.itertuples(index=False, name=None),
            )


def _epoch_seconds(occurred_at: pd.Series) -> pd.Series:
    as_ns = occurred_at.dt.tz_convert("UTC").astype("int64")
    return as_ns / 1e9


def _copy(table: str, rows: pd.DataFrame) -> None:
    # pyarrow writes the CSV about 8x faster than pandas' to_csv.
    buffer = io.BytesIO()
    pa_csv.write_csv(
        pa.Table.from_pandas(rows, preserve_index=False),
        buffer,
        pa_csv.WriteOptions(include_header=False),
    )
    with connection.cursor() as cursor:
        with cursor.cursor.copy(
            f"COPY {table} ({', '.join(COLUMNS)}) FROM STDIN (FORMAT csv)"
        ) as copy:
            copy.write(buffer.getvalue())


def merge(import_id: int, now: datetime) -> MergeResult:
    """Upsert the staged rows into items, raters and interactions, all in one transaction."""
    table = staging_table(import_id)
    with transaction.atomic(), connection.cursor() as cursor:
        staged = _scalar(cursor, f"SELECT COUNT(*) FROM {table}")
        distinct = _scalar(
            cursor,
            f"SELECT COUNT(*) FROM (SELECT 1 FROM {table} GROUP BY rater, item, event_type) d",
        )
        items_before = _scalar(cursor, "SELECT COUNT(*) FROM catalog_item")
        raters_before = _scalar(cursor, "SELECT COUNT(*) FROM catalog_rater")
        _upsert_items(cursor, table, now)
        _upsert_raters(cursor, table, now)
        _upsert_interactions(cursor, table)
        items_created = _scalar(cursor, "SELECT COUNT(*) FROM catalog_item") - items_before
        raters_created = _scalar(cursor, "SELECT COUNT(*) FROM catalog_rater") - raters_before
    # A bulk load changes the tables' statistics; refresh them so queries keep good plans.
    with connection.cursor() as cursor:
        for table in ("catalog_interaction", "catalog_rater", "catalog_item"):
            cursor.execute(f"ANALYZE {table}")
    return MergeResult(
        rows_staged=staged,
        rows_merged=distinct,
        duplicates_collapsed=staged - distinct,
        raters_created=raters_created,
        items_created=items_created,
    )


def _scalar(cursor, sql: str) -> int:  # type: ignore[no-untyped-def]
    cursor.execute(sql)
    return int(cursor.fetchone()[0])


def _json(literal: str) -> str:
    return f"'{literal}'::jsonb" if is_postgres() else f"'{literal}'"


def _upsert_items(cursor, table: str, now: datetime) -> None:  # type: ignore[no-untyped-def]
    cursor.execute(
        "INSERT INTO catalog_item (external_id, title, description, genres, attributes, "
        f"created_at, updated_at) SELECT DISTINCT item, '', '', {_json('[]')}, {_json('{}')}, "
        f"%s, %s FROM {table} WHERE true ON CONFLICT (external_id) DO NOTHING",
        [now, now],
    )


def _upsert_raters(cursor, table: str, now: datetime) -> None:  # type: ignore[no-untyped-def]
    cursor.execute(
        "INSERT INTO catalog_rater (external_id, attributes, created_at) "
        f"SELECT DISTINCT rater, {_json('{}')}, %s FROM {table} WHERE true "
        "ON CONFLICT (external_id) DO NOTHING",
        [now],
    )


def _to_timestamp(expr: str) -> str:
    # SQLite keeps datetimes as text in Django's format; whole seconds are kept there.
    return f"to_timestamp({expr})" if is_postgres() else f"datetime({expr}, 'unixepoch')"


def _upsert_interactions(cursor, table: str) -> None:  # type: ignore[no-untyped-def]
    # The latest record of a (rater, item, event) wins: by timestamp, then by its line in the file.
    # An existing row is replaced only by an event at least as recent as the one it holds.
    if is_postgres():
        # One row per key first: PostgreSQL refuses to upsert the same row twice in a statement.
        cursor.execute("SET LOCAL work_mem = '256MB'")
        source = (
            f"(SELECT DISTINCT ON (s.rater, s.item, s.event_type) s.* FROM {table} s "
            "ORDER BY s.rater, s.item, s.event_type, s.occurred_epoch DESC, s.line DESC) d"
        )
        order = ""
    else:
        # SQLite applies the upserts in order, so the latest record lands last and wins.
        source, order = f"{table} d", " ORDER BY d.occurred_epoch, d.line"
    cursor.execute(
        "INSERT INTO catalog_interaction "
        "(rater_id, item_id, event_type, value, occurred_at, source) "
        f"SELECT r.id, i.id, d.event_type, d.value, {_to_timestamp('d.occurred_epoch')}, 'import' "
        f"FROM {source} "
        "JOIN catalog_rater r ON r.external_id = d.rater "
        "JOIN catalog_item i ON i.external_id = d.item "
        f"WHERE true{order} "
        "ON CONFLICT (rater_id, item_id, event_type) DO UPDATE SET value = excluded.value, "
        "occurred_at = excluded.occurred_at, source = excluded.source "
        "WHERE excluded.occurred_at >= catalog_interaction.occurred_at"
    )
