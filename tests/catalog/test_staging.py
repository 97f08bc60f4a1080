"""Staging helpers: the distinct ids handed to the merge, and the fallback past their limit."""

from __future__ import annotations

import pandas as pd
import pytest

from catalog import staging
from catalog.importers import sniff
from catalog.models import DataImport, Interaction, Item, Rater
from tests.catalog.helpers import run_import


def frame(raters: list[str], items: list[str]) -> pd.DataFrame:
    return pd.DataFrame({"rater": pd.Series(raters, dtype="str"), "item": items})


def test_distinct_ids_collect_each_id_once_across_chunks():
    ids = staging.DistinctIds()

    ids.add(frame(["u1", "u2", "u1"], ["i1", "i1", "i2"]))
    ids.add(frame(["u2", "u3"], ["i2", "i2"]))

    assert (ids.raters, ids.items) == ({"u1", "u2", "u3"}, {"i1", "i2"})


def test_distinct_ids_give_up_a_kind_past_the_limit():
    ids = staging.DistinctIds(limit=2)

    ids.add(frame(["u1", "u2", "u3"], ["i1", "i1", "i1"]))
    ids.add(frame(["u4"], ["i2"]))

    assert ids.raters is None
    assert ids.items == {"i1", "i2"}


@pytest.mark.django_db
def test_an_import_past_the_limit_reads_the_ids_from_the_stage(monkeypatch):
    original = staging.DistinctIds.__init__
    monkeypatch.setattr(
        staging.DistinctIds, "__init__", lambda self, limit=1: original(self, limit)
    )
    content = "user_id,item_id,rating,timestamp\nu1,i1,4,1700000000\nu2,i1,3,1700000000\n"

    data_import = run_import("ratings.csv", content)

    assert data_import.status == DataImport.Status.SUCCEEDED, data_import.message
    assert (data_import.raters_created, data_import.items_created) == (2, 1)
    assert set(Rater.objects.values_list("external_id", flat=True)) == {"u1", "u2"}
    assert set(Item.objects.values_list("external_id", flat=True)) == {"i1"}


ROWS = "".join(f"u{i},i{i % 3},4,{1700000000 + i}\n" for i in range(7))


@pytest.mark.django_db
def test_chunks_staged_while_the_next_is_read_all_arrive(settings):
    settings.RECSITE_IMPORT_CHUNK_ROWS = 2

    data_import = run_import("ratings.csv", "user_id,item_id,rating,timestamp\n" + ROWS)

    assert data_import.status == DataImport.Status.SUCCEEDED, data_import.message
    assert (data_import.rows_read, data_import.rows_imported) == (7, 7)
    assert Interaction.objects.count() == 7


@pytest.mark.django_db
def test_a_file_error_with_a_chunk_in_flight_writes_nothing(settings, monkeypatch):
    settings.RECSITE_IMPORT_CHUNK_ROWS = 2
    monkeypatch.setattr(sniff, "SAMPLE_BYTES", 64)
    content = ("user_id,item_id,rating,timestamp\n" + ROWS).encode() + b"u,caf\xe9,4,1\n"

    data_import = run_import("ratings.csv", content, options={"encoding": "utf-8"})

    assert data_import.status == DataImport.Status.FAILED
    assert "not valid utf-8" in data_import.message
    assert (Interaction.objects.count(), Rater.objects.count()) == (0, 0)
