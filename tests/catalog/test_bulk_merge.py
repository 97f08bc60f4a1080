"""The PostgreSQL bulk merge: same rows as the upsert path, indexes and constraints restored."""

from __future__ import annotations

import numpy as np
import pytest
from django.db import connection

from catalog import bulk_merge, staging
from catalog.models import DataImport, Interaction, Item, Rater
from tests.catalog.helpers import run_import

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL-only path"),
]

HEADER = "user_id,item_id,rating,timestamp\n"


@pytest.fixture(autouse=True)
def bulk_always(settings):
    settings.RECSITE_IMPORT_BULK_MIN_ROWS = 1


def interactions() -> dict[tuple[str, str, str], tuple[float, int]]:
    return {
        (i.rater.external_id, i.item.external_id, i.event_type): (i.value, i.pk)
        for i in Interaction.objects.select_related("rater", "item")
    }


def values() -> dict[tuple[str, str, str], float]:
    return {key: value for key, (value, _) in interactions().items()}


def structures() -> set[tuple[str, str]]:
    """Every index and constraint of the interaction table, by name and definition."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = %s "
            "UNION ALL SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
            "WHERE conrelid = %s::regclass",
            [bulk_merge.TABLE, bulk_merge.TABLE],
        )
        return set(cursor.fetchall())


def test_bulk_load_into_an_empty_table_keeps_the_latest_and_rebuilds_everything():
    before = structures()
    content = HEADER + "u1,i1,2,1700000500\nu1,i1,5,1700000100\nu1,i2,1,1700000000\n"
    content += "u1,i2,3,1700000000\nu2,i1,4,1700000000\n"

    data_import = run_import("ratings.csv", content)

    assert data_import.status == DataImport.Status.SUCCEEDED, data_import.message
    assert values() == {
        ("u1", "i1", "rating"): 2.0,
        ("u1", "i2", "rating"): 3.0,
        ("u2", "i1", "rating"): 4.0,
    }
    assert (data_import.rows_imported, data_import.duplicates_collapsed) == (3, 2)
    assert (data_import.raters_created, data_import.items_created) == (2, 2)
    assert structures() == before


def test_bulk_load_into_a_non_empty_table_updates_by_time_and_keeps_row_ids():
    run_import("a.csv", HEADER + "u1,i1,4,1700000500\nu1,i2,4,1700000000\n")
    ids = {key: pk for key, (_, pk) in interactions().items()}
    before = structures()

    content = HEADER + "u1,i1,1,1600000000\nu1,i2,2,1700000900\nu2,i3,5,1700000000\n"
    data_import = run_import("b.csv", content)

    assert data_import.status == DataImport.Status.SUCCEEDED, data_import.message
    after = interactions()
    assert {key: value for key, (value, _) in after.items()} == {
        ("u1", "i1", "rating"): 4.0,  # the stored event is newer
        ("u1", "i2", "rating"): 2.0,
        ("u2", "i3", "rating"): 5.0,
    }
    assert all(after[key][1] == pk for key, pk in ids.items())
    assert (data_import.raters_created, data_import.items_created) == (1, 1)
    assert structures() == before


def test_bulk_importing_the_same_file_twice_leaves_the_same_rows():
    content = HEADER + "u1,i1,4,1700000000\nu2,i1,3,1700000100\n"
    run_import("ratings.csv", content)
    first = interactions()

    again = run_import("ratings.csv", content)

    assert again.status == DataImport.Status.SUCCEEDED
    assert interactions() == first


def test_a_failure_in_the_bulk_merge_writes_nothing_and_keeps_the_indexes(monkeypatch):
    before = structures()
    original = bulk_merge.insert_latest

    def insert_then_fail(*args):  # type: ignore[no-untyped-def]
        original(*args)
        raise RuntimeError("disk full")

    monkeypatch.setattr(bulk_merge, "insert_latest", insert_then_fail)

    with pytest.raises(RuntimeError):
        run_import("ratings.csv", HEADER + "u1,i1,4,1700000000\n")

    assert DataImport.objects.get().status == DataImport.Status.FAILED
    assert (Interaction.objects.count(), Rater.objects.count(), Item.objects.count()) == (0, 0, 0)
    assert structures() == before


def test_loads_below_the_threshold_take_the_upsert_path(monkeypatch, settings):
    settings.RECSITE_IMPORT_BULK_MIN_ROWS = 100
    monkeypatch.setattr(bulk_merge, "insert_latest", None)  # would fail if called

    data_import = run_import("ratings.csv", HEADER + "u1,i1,4,1700000000\n")

    assert data_import.status == DataImport.Status.SUCCEEDED
    assert values() == {("u1", "i1", "rating"): 4.0}


def test_a_load_smaller_than_the_table_takes_the_upsert_path(monkeypatch):
    run_import("a.csv", HEADER + "u1,i1,4,1700000000\nu1,i2,4,1700000000\nu2,i1,1,1700000000\n")
    monkeypatch.setattr(bulk_merge, "insert_latest", None)  # would fail if called

    data_import = run_import("b.csv", HEADER + "u1,i1,5,1700000900\n")

    assert data_import.status == DataImport.Status.SUCCEEDED
    assert values()[("u1", "i1", "rating")] == 5.0


def spy_on_insert_latest(monkeypatch) -> list:  # type: ignore[no-untyped-def]
    """The ``repeated_keys`` of every bulk insert, in a list filled as they happen."""
    seen = []
    original = bulk_merge.insert_latest

    def spy(cursor, table, repeated_keys):  # type: ignore[no-untyped-def]
        seen.append(repeated_keys)
        return original(cursor, table, repeated_keys)

    monkeypatch.setattr(bulk_merge, "insert_latest", spy)
    return seen


MIXED = HEADER + (
    "u1,i1,2,1700000500\nu2,i2,3,1700000000\nu1,i1,5,1700000100\nu3,i1,1,1700000000\n"
    "u2,i2,4,1700000000\nu3,i2,2,1700000000\n"
)
MIXED_LATEST = {
    ("u1", "i1", "rating"): 2.0,  # the later timestamp wins over the later line
    ("u2", "i2", "rating"): 4.0,  # same timestamp: the later line wins
    ("u3", "i1", "rating"): 1.0,
    ("u3", "i2", "rating"): 2.0,
}


@pytest.mark.parametrize("chunk_rows", [2, 1000])
def test_only_repeated_keys_are_sorted_even_across_chunks(settings, monkeypatch, chunk_rows):
    settings.RECSITE_IMPORT_CHUNK_ROWS = chunk_rows
    seen = spy_on_insert_latest(monkeypatch)

    data_import = run_import("ratings.csv", MIXED)

    assert data_import.status == DataImport.Status.SUCCEEDED, data_import.message
    assert values() == MIXED_LATEST
    assert (data_import.rows_imported, data_import.duplicates_collapsed) == (4, 2)
    assert len(seen[0]) == 2  # the hashes of (u1, i1) and (u2, i2)


def test_colliding_key_hashes_only_cost_a_sort(monkeypatch):
    # Every row hashing alike makes every key look repeated: the result must not change.
    monkeypatch.setattr(staging, "key_hashes", lambda frame: np.zeros(len(frame), np.int64))

    data_import = run_import("ratings.csv", MIXED)

    assert data_import.status == DataImport.Status.SUCCEEDED, data_import.message
    assert values() == MIXED_LATEST


@pytest.mark.parametrize(("limit", "chunk_rows"), [(0, 1000), (3, 2)])
def test_past_the_hash_limit_every_row_is_sorted(settings, monkeypatch, limit, chunk_rows):
    settings.RECSITE_IMPORT_CHUNK_ROWS = chunk_rows
    monkeypatch.setattr(staging.KeyHashes.__init__, "__defaults__", (limit,))
    seen = spy_on_insert_latest(monkeypatch)

    data_import = run_import("ratings.csv", MIXED)

    assert data_import.status == DataImport.Status.SUCCEEDED, data_import.message
    assert values() == MIXED_LATEST
    assert seen == [None]


def test_a_file_without_repeated_keys_is_inserted_unsorted(monkeypatch):
    seen = spy_on_insert_latest(monkeypatch)
    content = HEADER + "u1,i1,2,1700000500\nu2,i1,3,1700000000\nu1,i2,5,1700000100\n"

    data_import = run_import("ratings.csv", content)

    assert data_import.status == DataImport.Status.SUCCEEDED, data_import.message
    assert values() == {
        ("u1", "i1", "rating"): 2.0,
        ("u2", "i1", "rating"): 3.0,
        ("u1", "i2", "rating"): 5.0,
    }
    assert data_import.duplicates_collapsed == 0
    assert [len(keys) for keys in seen] == [0]


def test_repeated_keys_into_a_non_empty_table_still_respect_stored_times():
    run_import("a.csv", HEADER + "u1,i1,4,1700000600\n")

    data_import = run_import("b.csv", MIXED)

    assert data_import.status == DataImport.Status.SUCCEEDED, data_import.message
    assert values() == {**MIXED_LATEST, ("u1", "i1", "rating"): 4.0}  # the stored one is newer
