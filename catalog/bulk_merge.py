"""PostgreSQL bulk path of the interaction merge: load without secondary indexes, then rebuild.

Upserting a million rows into ``catalog_interaction`` one index entry and one deferred foreign
key check at a time costs about 20x a plain load. When a load outnumbers the rows already
stored, the merge instead drops the table's secondary indexes, its unique constraint and its
foreign keys, inserts the latest row of each key, and recreates them all: each index is then
built from one sort and each foreign key is checked by one join. Everything happens in the
caller's transaction, so a failure (a bad row, a crash, a constraint that no longer holds)
rolls the table back with its indexes and constraints as they were.

The price is the lock: dropping a constraint takes an ACCESS EXCLUSIVE lock on
``catalog_interaction`` (and SHARE ROW EXCLUSIVE on ``catalog_rater`` and ``catalog_item``,
whose foreign key triggers change), held until the merge commits. Readers of interactions wait
for the merge; incremental loads keep the lock-light upsert path.

The functions take a DB-API cursor and know nothing of Django.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

logger = logging.getLogger(__name__)

TABLE = "catalog_interaction"
_COLUMNS = "(rater_id, item_id, event_type, value, occurred_at, source)"
_KEY_MATCH = "c.rater_id = l.rater_id AND c.item_id = l.item_id AND c.event_type = l.event_type"


@contextmanager
def indexes_dropped(cursor: Any, *, enabled: bool) -> Iterator[None]:
    """Drop the interaction table's indexes, keys and foreign keys; recreate them on exit.

    On an exception nothing is recreated: the caller's rollback restores them.
    """
    if not enabled:
        yield
        return
    # ALTER TABLE refuses a table with pending deferred checks (rows written earlier in the
    # same transaction); checking them now empties the queue.
    cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    cursor.execute(f"LOCK TABLE {TABLE} IN ACCESS EXCLUSIVE MODE")
    constraints = _rows(
        cursor,
        "SELECT conname, pg_get_constraintdef(c.oid) FROM pg_constraint c "
        f"WHERE conrelid = '{TABLE}'::regclass AND (contype IN ('u', 'f') OR contype = 'p' "
        "AND NOT EXISTS (SELECT 1 FROM pg_constraint r WHERE r.confrelid = c.conrelid)) "
        # Keys first, then foreign keys: the rebuild adds them back in this order.
        "ORDER BY contype = 'f', contype, conname",
    )
    indexes = _rows(
        cursor,
        "SELECT indexrelid::regclass::text, pg_get_indexdef(indexrelid) FROM pg_index x "
        f"WHERE indrelid = '{TABLE}'::regclass AND NOT indisprimary AND NOT EXISTS ("
        "SELECT 1 FROM pg_constraint c WHERE c.conrelid = x.indrelid "
        "AND c.conindid = x.indexrelid) ORDER BY 1",
    )
    for name, _ in constraints:
        cursor.execute(f'ALTER TABLE {TABLE} DROP CONSTRAINT "{name}"')
    for name, _ in indexes:
        cursor.execute(f"DROP INDEX {name}")
    yield
    for name, definition in indexes:
        _rebuild(cursor, name, definition)
    for name, definition in constraints:
        _rebuild(cursor, name, f'ALTER TABLE {TABLE} ADD CONSTRAINT "{name}" {definition}')


def _rebuild(cursor: Any, name: str, statement: str) -> None:
    # Timed and logged: on a big load the rebuild is a large share of the import's time, and
    # the log tells an operator which index or constraint it went to.
    started = time.perf_counter()
    cursor.execute(statement)
    seconds = time.perf_counter() - started
    logger.info(
        "bulk merge rebuilt %s in %.1f s",
        name,
        seconds,
        extra={"rebuilt": name, "seconds": seconds},
    )


# Past this many repeated keys, sorting every staged row beats filtering by a list that long.
REPEATED_KEYS_MAX = 100_000


def insert_latest(cursor: Any, staging: str, repeated_keys: np.ndarray | None = None) -> int:
    """Merge the latest staged row of each key; returns the number of distinct keys staged.

    Runs between the drop and the rebuild of :func:`indexes_dropped`, so there is
    no unique index for ON CONFLICT: rows already stored are updated by a hash join instead.
    ``repeated_keys`` holds the key hashes (the stage's ``key_hash``) that occur more than
    once; rows of other keys are taken as they are, without sorting. None sorts every row.
    """
    latest = _latest_rows(cursor, staging, repeated_keys)
    if not _has_rows(cursor):
        cursor.execute(f"INSERT INTO {TABLE} {_COLUMNS} {latest}")
        return int(cursor.rowcount)
    temp = f"{staging}_latest"
    cursor.execute(f"CREATE TEMP TABLE {temp} AS {latest}")
    merged = int(cursor.rowcount)
    cursor.execute(f"ANALYZE {temp}")
    # An existing row is replaced only by an event at least as recent as the one it holds.
    cursor.execute(
        f"UPDATE {TABLE} c SET value = l.value, occurred_at = l.occurred_at, source = l.source "
        f"FROM {temp} l WHERE {_KEY_MATCH} AND l.occurred_at >= c.occurred_at"
    )
    cursor.execute(
        f"INSERT INTO {TABLE} {_COLUMNS} SELECT * FROM {temp} l "
        f"WHERE NOT EXISTS (SELECT 1 FROM {TABLE} c WHERE {_KEY_MATCH})"
    )
    cursor.execute(f"DROP TABLE {temp}")
    return merged


_SELECT = (
    "r.id AS rater_id, i.id AS item_id, s.event_type, s.value, "
    "to_timestamp(s.occurred_epoch) AS occurred_at, 'import'::text AS source"
)
_JOINS = (
    "JOIN catalog_rater r ON r.external_id = s.rater JOIN catalog_item i ON i.external_id = s.item"
)


def _latest_rows(cursor: Any, staging: str, repeated_keys: np.ndarray | None) -> str:
    """A SELECT of the latest staged row of each key, in the table's column order."""
    # The latest record of a (rater, item, event) wins: by timestamp, then by its line in the
    # file. Sorting by the integer ids (not the text ids) is cheaper.
    newest_first = (
        f"SELECT DISTINCT ON (r.id, i.id, s.event_type) {_SELECT} FROM {staging} s {_JOINS} "
        "{where} ORDER BY r.id, i.id, s.event_type, s.occurred_epoch DESC, s.line DESC"
    )
    if repeated_keys is None or len(repeated_keys) > REPEATED_KEYS_MAX:
        return newest_first.format(where="")
    if len(repeated_keys) == 0:
        return f"SELECT {_SELECT} FROM {staging} s {_JOINS}"
    repeated = f"{staging}_repeated"
    cursor.execute(f"CREATE TEMP TABLE {repeated} (key_hash bigint PRIMARY KEY) ON COMMIT DROP")
    cursor.execute(f"INSERT INTO {repeated} SELECT unnest(%s::bigint[])", [repeated_keys.tolist()])
    cursor.execute(f"ANALYZE {repeated}")
    is_repeated = f"EXISTS (SELECT 1 FROM {repeated} k WHERE k.key_hash = s.key_hash)"
    return (
        f"SELECT {_SELECT} FROM {staging} s {_JOINS} WHERE NOT {is_repeated} UNION ALL ("
        + newest_first.format(where=f"WHERE {is_repeated}")
        + ")"
    )


def _has_rows(cursor: Any) -> bool:
    cursor.execute(f"SELECT EXISTS (SELECT 1 FROM {TABLE})")
    return bool(cursor.fetchone()[0])


def _rows(cursor: Any, query: str) -> list[tuple[str, str]]:
    cursor.execute(query)
    return [(str(name), str(definition)) for name, definition in cursor.fetchall()]
