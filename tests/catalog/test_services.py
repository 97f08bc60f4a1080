"""The import service: all-or-nothing, skip-invalid, dry run, idempotence, upserts."""

from __future__ import annotations

import csv
import io

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from catalog import services
from catalog.models import DataImport, Interaction, Item, Rater
from tests.catalog.helpers import run_import, upload

pytestmark = pytest.mark.django_db

GOOD = (
    "user_id,item_id,rating,timestamp\n"
    "007,i1,4,1700000000\n"
    "007,i2,5,1700000100\n"
    "008,i1,3,1700000200\n"
)


def interactions() -> set[tuple[str, str, str, float]]:
    return {
        (i.rater.external_id, i.item.external_id, i.event_type, i.value)
        for i in Interaction.objects.select_related("rater", "item")
    }


def test_imports_raters_items_and_ratings_with_ids_as_strings():
    data_import = run_import("ratings.csv", GOOD)

    assert data_import.status == DataImport.Status.SUCCEEDED, data_import.message
    assert interactions() == {
        ("007", "i1", "rating", 4.0),
        ("007", "i2", "rating", 5.0),
        ("008", "i1", "rating", 3.0),
    }
    assert (data_import.rows_read, data_import.rows_imported, data_import.rows_rejected) == (
        3,
        3,
        0,
    )
    assert (data_import.raters_created, data_import.items_created) == (2, 2)
    assert data_import.started_at <= data_import.finished_at


def test_importing_the_same_file_twice_leaves_the_same_rows():
    run_import("ratings.csv", GOOD)
    before = interactions()

    again = run_import("ratings.csv", GOOD)

    assert again.status == DataImport.Status.SUCCEEDED
    assert interactions() == before
    assert Interaction.objects.count() == 3
    assert (again.raters_created, again.items_created) == (0, 0)


def test_duplicates_within_a_file_collapse_to_the_latest_record():
    content = (
        "user_id,item_id,rating,timestamp\n"
        "u1,i1,2,1700000500\n"
        "u1,i1,5,1700000100\n"  # older: loses although later in the file
        "u1,i2,1,1700000000\n"
        "u1,i2,3,1700000000\n"  # same time: the later line wins
    )
    data_import = run_import("ratings.csv", content)

    assert interactions() == {("u1", "i1", "rating", 2.0), ("u1", "i2", "rating", 3.0)}
    assert data_import.duplicates_collapsed == 2
    assert data_import.rows_imported == 2


def test_an_older_event_does_not_replace_a_newer_one():
    run_import("a.csv", "user_id,item_id,rating,timestamp\nu1,i1,4,1700000500\n")

    run_import("b.csv", "user_id,item_id,rating,timestamp\nu1,i1,1,1600000000\n")

    assert interactions() == {("u1", "i1", "rating", 4.0)}


def test_a_newer_event_replaces_the_current_value():
    run_import("a.csv", "user_id,item_id,rating,timestamp\nu1,i1,4,1700000000\n")

    run_import("b.csv", "user_id,item_id,rating,timestamp\nu1,i1,2,1700000900\n")

    assert interactions() == {("u1", "i1", "rating", 2.0)}


BAD = (
    "user_id,item_id,rating,timestamp\n"
    "u1,i1,4,1700000000\n"
    "u2,i2,nine,1700000000\n"
    "u3,i3,7,1700000000\n"
    "u4,i4,3,1700000000\n"
)


def test_one_invalid_row_fails_the_import_and_writes_nothing():
    data_import = run_import("ratings.csv", BAD)

    assert data_import.status == DataImport.Status.FAILED
    assert "nothing was imported" in data_import.message
    assert Interaction.objects.count() == 0
    assert Item.objects.count() == 0
    assert Rater.objects.count() == 0
    assert [(e["line"], e["column"], e["value"]) for e in data_import.errors] == [
        (3, "rating", "nine"),
        (4, "rating", "7"),
    ]
    assert data_import.error_count == 2


def test_skip_invalid_imports_exactly_the_valid_rows():
    data_import = run_import("ratings.csv", BAD, skip_invalid=True)

    assert data_import.status == DataImport.Status.SUCCEEDED
    assert interactions() == {("u1", "i1", "rating", 4.0), ("u4", "i4", "rating", 3.0)}
    assert (data_import.rows_read, data_import.rows_imported, data_import.rows_rejected) == (
        4,
        2,
        2,
    )


def test_a_nul_character_is_reported_where_it_is_and_the_other_rows_land():
    # PostgreSQL text and JSON cannot hold NUL: it must be a row error, never a crash.
    buffer = io.BytesIO()
    table = {"user_id": ["u1", "u\x002"], "item_id": ["i1", "i2"], "rating": [4.0, 5.0]}
    pq.write_table(pa.table(table), buffer)

    data_import = run_import("r.parquet", buffer.getvalue(), skip_invalid=True)

    assert data_import.status == DataImport.Status.SUCCEEDED, data_import.message
    assert interactions() == {("u1", "i1", "rating", 4.0)}
    assert [(e["line"], e["column"], e["value"]) for e in data_import.errors] == [
        (2, "user_id", "u\u24002")
    ]
    errors_csv = data_import.errors_file.read().decode("utf-8")
    assert "u\u24002" in errors_csv


def test_ids_and_values_the_tables_cannot_hold_are_row_errors_not_database_errors():
    content = f"user,item,event,value\n{'u' * 256},i1,view,1\nu2,i2,view,1e300\nu3,i3,view,2\n"

    data_import = run_import("events.csv", content, skip_invalid=True)

    assert data_import.status == DataImport.Status.SUCCEEDED, data_import.message
    assert interactions() == {("u3", "i3", "view", 2.0)}
    assert [(e["line"], e["column"]) for e in data_import.errors] == [(2, "user"), (3, "value")]


def test_dry_run_validates_and_writes_nothing():
    data_import = run_import("ratings.csv", GOOD, dry_run=True)

    assert data_import.status == DataImport.Status.SUCCEEDED
    assert "Dry run" in data_import.message
    assert Interaction.objects.count() == 0
    assert data_import.rows_read == 3


def test_running_a_claimed_import_again_does_nothing():
    data_import = run_import("ratings.csv", GOOD)

    services.data_import_run(import_id=data_import.pk)

    assert DataImport.objects.get(pk=data_import.pk).finished_at == data_import.finished_at
    assert Interaction.objects.count() == 3


def test_errors_csv_lists_every_error_with_formulas_neutralised():
    content = "user_id,item_id,rating\nu1,i1,=1+2\nu2,i2,@SUM(A1)\n"
    data_import = run_import("ratings.csv", content)

    rows = list(csv.reader(io.StringIO(data_import.errors_file.read().decode())))

    assert rows[0] == ["line", "column", "value", "message"]
    assert [(r[0], r[1], r[2]) for r in rows[1:]] == [
        ("2", "rating", "'=1+2"),
        ("3", "rating", "'@SUM(A1)"),
    ]


def test_a_file_over_the_size_limit_is_refused_and_nothing_is_kept(settings, media_root):
    settings.RECSITE_IMPORT_MAX_BYTES = 10

    with pytest.raises(services.ImportValidationError, match="over the limit"):
        services.data_import_create(file=upload("r.csv", GOOD), original_name="r.csv")

    assert DataImport.objects.count() == 0


def test_a_binary_file_named_csv_is_refused_at_upload(media_root):
    with pytest.raises(services.ImportValidationError, match="not a text file"):
        services.data_import_create(
            file=upload("r.csv", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x01"),
            original_name="r.csv",
        )

    assert DataImport.objects.count() == 0
    assert not any(p.is_file() for p in media_root.rglob("*"))


def test_an_empty_file_is_refused_at_upload():
    with pytest.raises(services.ImportValidationError, match="empty"):
        services.data_import_create(file=upload("r.csv", b""), original_name="r.csv")


def test_a_header_without_rows_is_refused_at_upload():
    with pytest.raises(services.ImportValidationError, match="header row but no data rows"):
        services.data_import_create(
            file=upload("r.csv", "user_id,item_id,rating,timestamp\n"), original_name="r.csv"
        )

    assert DataImport.objects.count() == 0


def test_movielens_100k_files_import_without_configuration():
    items = (
        "1|Toy Story (1995)|01-Jan-1995||http://x|0|0|0|1|1|1|0|0|0|0|0|0|0|0|0|0|0|0|0\n"
        "2|Les Misérables (1995)|01-Jan-1995||http://y|0|0|0|0|0|0|0|0|1|0|0|0|0|0|0|0|0|0|0\n"
    ).encode("latin-1")
    raters = "1|24|M|technician|85711\n2|53|F|other|94043\n"
    ratings = "1\t1\t5\t874965758\n2\t2\t3\t876893171\n1\t2\t4\t878542960\n"

    for name, content in [("u.item", items), ("u.user", raters), ("u.data", ratings)]:
        result = run_import(name, content)
        assert result.status == DataImport.Status.SUCCEEDED, (name, result.message)

    assert Item.objects.get(external_id="2").title == "Les Misérables (1995)"
    assert "Drama" in Item.objects.get(external_id="2").genres
    assert Rater.objects.get(external_id="2").attributes["occupation"] == "other"
    assert interactions() == {
        ("1", "1", "rating", 5.0),
        ("2", "2", "rating", 3.0),
        ("1", "2", "rating", 4.0),
    }


def test_item_file_updates_titles_of_items_created_by_ratings():
    run_import("ratings.csv", GOOD)

    result = run_import("items.csv", "item_id,title,genres\ni1,First,Action|Drama\ni2,Second,\n")

    assert result.status == DataImport.Status.SUCCEEDED, result.message
    assert Item.objects.get(external_id="i1").genres == ["Action", "Drama"]
    assert Item.objects.get(external_id="i2").title == "Second"
    assert Item.objects.count() == 2


def test_invalid_item_file_writes_nothing():
    result = run_import("items.csv", "item_id,title,genres\ni1,First,Action\n,No id,Drama\n")

    assert result.status == DataImport.Status.FAILED
    assert Item.objects.count() == 0
    assert result.errors[0]["line"] == 3


def test_interaction_record_replaces_and_checks_the_scale():
    rater = Rater.objects.create(external_id="u")
    item = Item.objects.create(external_id="i")
    services.interaction_record(rater=rater, item=item, value=3)
    services.interaction_record(rater=rater, item=item, value=5)

    with pytest.raises(services.ImportValidationError, match="outside the scale"):
        services.interaction_record(rater=rater, item=item, value=9)

    assert list(Interaction.objects.values_list("value", flat=True)) == [5.0]
