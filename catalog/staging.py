"""Bulk path for interaction imports: stage validated rows, then merge them in one transaction.

Rows go into a per-import staging table (UNLOGGED and filled by ``COPY`` on PostgreSQL,
``executemany`` on SQLite). Nothing touches the catalog tables until :func:`merge`, which runs in
one transaction: items and raters are upserted on ``external_id``, duplicate rows of the file
collapse to the latest (by timestamp, then by line), and interactions are upserted on
``(rater, item, event_type)`` so that importing the same file twice leaves the same rows.
"""

from __future__ import annotations

import io
from contextlib import ExitStack, suppress
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
from django.db import connection, transaction
from psycopg.copy import QueuedLibpqWriter

from catalog import bulk_merge

COLUMNS = ("line", "rater", "item", "event_type", "value", "occurred_epoch", "key_hash")


@dataclass(frozen=True)
class MergeResult:
    rows_staged: int
    rows_merged: int
    duplicates_collapsed: int
    raters_created: int
    items_created: int


class DistinctIds:
    """The distinct rater and item ids staged so far, while few enough to keep in memory.

    Handing them to the merge spares it a ``SELECT DISTINCT`` over every staged row for each.
    Past ``limit`` distinct ids of a kind, that kind is dropped (None) and the merge reads it
    from the stage, so memory stays bounded whatever the file.
    """

    def __init__(self, limit: int = 500_000) -> None:
        self.limit = limit
        self.raters: set[str] | None = set()
        self.items: set[str] | None = set()

    def add(self, frame: pd.DataFrame) -> None:
        self.raters = self._union(self.raters, frame["rater"])
        self.items = self._union(self.items, frame["item"])

    def _union(self, known: set[str] | None, column: pd.Series) -> set[str] | None:
        if known is None:
            return None
        known.update(pc.unique(pa.array(column)).to_pylist())
        return known if len(known) <= self.limit else None


class KeyHashes:
    """A 64-bit hash of each staged row's (rater, item, event type), to find the keys that
    occur more than once without sorting every staged row in the database.

    Most files name each key once; then the merge inserts the rows as they are and only the
    rows of repeated keys are sorted to pick the latest. A hash shared by two different keys
    only sends their rows through that sort too, so collisions cost time, never correctness.
    Past ``limit`` rows (8 bytes each) the hashes are dropped and the merge sorts everything.
    """

    def __init__(self, limit: int = 20_000_000) -> None:
        self.limit = limit
        self._parts: list[np.ndarray] | None = []
        self._count = 0

    def add(self, hashes: np.ndarray) -> None:
        if self._parts is None:
            return
        self._count += len(hashes)
        if self._count > self.limit:
            self._parts = None
        else:
            self._parts.append(hashes)

    def repeated(self) -> np.ndarray | None:
        """The distinct hashes that occur more than once, or None once past the limit."""
        if self._parts is None:
            return None
        ordered = np.sort(np.concatenate(self._parts)) if self._parts else np.zeros(0, np.int64)
        return np.unique(ordered[1:][ordered[1:] == ordered[:-1]])


def key_hashes(frame: pd.DataFrame) -> np.ndarray:
    """The hash of each row's (rater, item, event_type), as signed 64-bit integers."""
    hashed = pd.util.hash_pandas_object(frame[["rater", "item", "event_type"]], index=False)
    return hashed.to_numpy().view(np.int64)


_PREFIX = "catalog_import_staging_"


def staging_table(import_id: int) -> str:
    return f"{_PREFIX}{int(import_id)}"


def staged_import_ids() -> set[int]:
    """The imports that have a staging table now (a lost worker leaves its table behind)."""
    names = connection.introspection.table_names()
    suffixes = (name.removeprefix(_PREFIX) for name in names if name.startswith(_PREFIX))
    return {int(suffix) for suffix in suffixes if suffix.isdigit()}


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
            f"occurred_epoch {real} NOT NULL, key_hash bigint NOT NULL)"
        )
    return table


def drop(import_id: int) -> None:
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {staging_table(import_id)}")


class Writer:
    """Appends validated chunks to the stage, each COPY overlapping the parsing of the next.

    :meth:`write` hands the chunk to psycopg's writer thread and returns at once, so Python
    parses the next chunk on one core while PostgreSQL ingests this one on another. The
    connection is busy until :meth:`wait`; call it before any other query. At most one
    chunk is in flight, which keeps memory bounded. Leaving the ``with`` block waits for it.
    SQLite inserts synchronously.
    """

    def __init__(self, import_id: int, ids: DistinctIds | None = None) -> None:
        self.table = staging_table(import_id)
        self.ids = ids
        self.keys = KeyHashes()
        self._in_flight: ExitStack | None = None
        self.rows_written = 0

    def write(self, frame: pd.DataFrame) -> None:
        """Start staging the chunk (columns of ``importers.InteractionChunk.frame``)."""
        self.wait()
        if frame.empty:
            return
        if self.ids is not None:
            self.ids.add(frame)
        hashes = key_hashes(frame)
        rows = _arrow_rows(frame, hashes)
        self.rows_written += len(frame)
        if is_postgres():
            self.keys.add(hashes)  # only PostgreSQL's bulk merge reads them
            self._in_flight = _start_copy(self.table, rows)
        else:
            _insert(self.table, rows)

    def wait(self) -> None:
        """Block until the chunk in flight is staged (raises its error, if any)."""
        in_flight, self._in_flight = self._in_flight, None
        if in_flight is not None:
            in_flight.close()

    def __enter__(self) -> Writer:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: Any
    ) -> None:
        if error is None:
            self.wait()
            return
        # Finish the COPY rather than abort it: an aborted COPY is a server error, which would
        # poison a caller's transaction; the rows land in a stage that is dropped anyway.
        with suppress(Exception):  # the error already leaving matters more
            self.wait()


def _insert(table: str, rows: pa.Table) -> None:
    # One transaction per chunk: in autocommit every row would be its own transaction.
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.executemany(
            f"INSERT INTO {table} VALUES (?, ?, ?, ?, ?, ?, ?)",
            zip(*(column.to_pylist() for column in rows.columns), strict=True),
        )


def _arrow_rows(frame: pd.DataFrame, hashes: np.ndarray) -> pa.Table:
    # The frame's text columns are Arrow-backed: pa.array takes them without a copy, where a
    # round trip through Python strings would cost more than parsing the file.
    return pa.table(
        {
            "line": pa.array(frame["line"].to_numpy(dtype="int64")),
            "rater": pa.array(frame["rater"]),
            "item": pa.array(frame["item"]),
            "event_type": pa.array(frame["event_type"]),
            "value": pa.array(frame["value"].to_numpy(dtype="float64")),
            "occurred_epoch": pa.array(_epoch_seconds(frame["occurred_at"])),
            "key_hash": pa.array(hashes),
        }
    )


def _epoch_seconds(occurred_at: pd.Series) -> np.ndarray:
    as_ns = occurred_at.dt.tz_convert("UTC").astype("int64").to_numpy()
    return as_ns / 1e9


def _start_copy(table: str, rows: pa.Table) -> ExitStack:
    """Queue the rows to a COPY; closing the returned stack waits for the COPY to finish."""
    buffer = io.BytesIO()
    pa_csv.write_csv(rows, buffer, pa_csv.WriteOptions(include_header=False))
    stack = ExitStack()
    try:
        cursor = stack.enter_context(connection.cursor()).cursor
        copy = stack.enter_context(
            cursor.copy(
                f"COPY {table} ({', '.join(COLUMNS)}) FROM STDIN (FORMAT csv)",
                writer=QueuedLibpqWriter(cursor),
            )
        )
        copy.write(buffer.getbuffer())
    except BaseException as error:
        stack.__exit__(type(error), error, error.__traceback__)
        raise
    return stack


def merge(
    import_id: int,
    now: datetime,
    *,
    bulk_min_rows: int = 100_000,
    ids: DistinctIds | None = None,
    staged: int | None = None,
    merge_memory_mb: int = 512,
    keys: KeyHashes | None = None,
) -> MergeResult:
    """Upsert the staged rows into items, raters and interactions, all in one transaction.

    A load of at least ``bulk_min_rows`` rows that outnumbers the interactions already stored
    takes the bulk path on PostgreSQL (see :mod:`catalog.bulk_merge`); smaller ones upsert.
    ``keys`` (the writer's :class:`KeyHashes`) spares the bulk path sorting every row.
    """
    table = staging_table(import_id)
    with transaction.atomic(), connection.cursor() as cursor:
        if staged is None:  # the writer knows; counting a big stage costs a full scan
            staged = _scalar(cursor, f"SELECT COUNT(*) FROM {table}")
        if is_postgres():
            # The merge sorts every staged row once and builds indexes: spilling to disk costs.
            cursor.execute("SELECT set_config('work_mem', %s, true)", [f"{merge_memory_mb}MB"])
            cursor.execute(
                "SELECT set_config('maintenance_work_mem', %s, true)", [f"{merge_memory_mb}MB"]
            )
        bulk = is_postgres() and staged >= bulk_min_rows and _outnumbers_stored(cursor, staged)
        with bulk_merge.indexes_dropped(cursor, enabled=bulk):
            items_created = _upsert_items(cursor, table, now, ids.items if ids else None)
            raters_created = _upsert_raters(cursor, table, now, ids.raters if ids else None)
            if bulk:
                repeated = keys.repeated() if keys is not None else None
                merged = bulk_merge.insert_latest(cursor, table, repeated)
            else:
                merged = _upsert_interactions(cursor, table)
    # A bulk load changes the tables' statistics; refresh them so queries keep good plans.
    with connection.cursor() as cursor:
        for table in ("catalog_interaction", "catalog_rater", "catalog_item"):
            cursor.execute(f"ANALYZE {table}")
    return MergeResult(
        rows_staged=staged,
        rows_merged=merged,
        duplicates_collapsed=staged - merged,
        raters_created=raters_created,
        items_created=items_created,
    )


def _outnumbers_stored(cursor, staged: int) -> bool:  # type: ignore[no-untyped-def]
    # Counting stops at `staged` rows, so a small load into a big table costs a short scan.
    stored = _scalar(
        cursor, f"SELECT COUNT(*) FROM (SELECT 1 FROM catalog_interaction LIMIT {int(staged)}) t"
    )
    return stored < staged


def _scalar(cursor, sql: str) -> int:  # type: ignore[no-untyped-def]
    cursor.execute(sql)
    return int(cursor.fetchone()[0])


def _json(literal: str) -> str:
    return f"'{literal}'::jsonb" if is_postgres() else f"'{literal}'"


def _upsert_items(  # type: ignore[no-untyped-def]
    cursor, table: str, now: datetime, known: set[str] | None
) -> int:
    """Create the items the file names that do not exist yet; returns how many."""
    source, params = _distinct(table, "item", known)
    cursor.execute(
        "INSERT INTO catalog_item (external_id, title, description, genres, attributes, "
        f"created_at, updated_at) SELECT s.item, '', '', {_json('[]')}, {_json('{}')}, "
        f"%s, %s FROM {source} WHERE true ON CONFLICT (external_id) DO NOTHING",
        [now, now, *params],
    )
    return max(cursor.rowcount, 0)


def _upsert_raters(  # type: ignore[no-untyped-def]
    cursor, table: str, now: datetime, known: set[str] | None
) -> int:
    """Create the raters the file names that do not exist yet; returns how many."""
    source, params = _distinct(table, "rater", known)
    cursor.execute(
        "INSERT INTO catalog_rater (external_id, attributes, created_at) "
        f"SELECT s.rater, {_json('{}')}, %s FROM {source} WHERE true "
        "ON CONFLICT (external_id) DO NOTHING",
        [now, *params],
    )
    return max(cursor.rowcount, 0)


def _distinct(table: str, column: str, known: set[str] | None) -> tuple[str, list[object]]:
    """A FROM clause giving each distinct id once, as column ``column`` of ``s``."""
    if known is not None and is_postgres():
        return f"unnest(%s::text[]) AS s({column})", [sorted(known)]
    return f"(SELECT DISTINCT {column} FROM {table}) s", []


def _to_timestamp(expr: str) -> str:
    # SQLite keeps datetimes as text in Django's format; whole seconds are kept there.
    return f"to_timestamp({expr})" if is_postgres() else f"datetime({expr}, 'unixepoch')"


def _upsert_interactions(cursor, table: str) -> int:  # type: ignore[no-untyped-def]
    """Upsert the latest staged row of each key; returns the number of distinct keys staged."""
    # The latest record of a (rater, item, event) wins: by timestamp, then by its line in the file.
    # An existing row is replaced only by an event at least as recent as the one it holds.
    if is_postgres():
        # One row per key first: PostgreSQL refuses to upsert the same row twice in a statement.
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
    return _scalar(
        cursor,
        f"SELECT COUNT(*) FROM (SELECT 1 FROM {table} GROUP BY rater, item, event_type) d",
    )
