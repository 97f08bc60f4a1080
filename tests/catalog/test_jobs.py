"""Import jobs show their phase and beat while they work; a lost worker's import is reaped."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from catalog import jobs, services, staging
from catalog.models import DataImport
from catalog.services import import_run
from tests.catalog.helpers import run_import, upload

CSV = "user_id,item_id,rating,timestamp\nu1,i1,4,1700000000\nu2,i1,5,1700000001\n"


def an_import(status: str, heartbeat_age: timedelta) -> DataImport:
    data_import = services.data_import_create(
        file=upload("r.csv", CSV), original_name="r.csv", start=False
    )
    DataImport.objects.filter(pk=data_import.pk).update(
        status=status, heartbeat_at=timezone.now() - heartbeat_age
    )
    return DataImport.objects.get(pk=data_import.pk)


def wait_for(condition, timeout: float = 10.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


@pytest.mark.django_db
def test_a_silent_running_import_is_failed_and_its_stage_dropped():
    lost = an_import(DataImport.Status.RUNNING, timedelta(minutes=10))
    alive = an_import(DataImport.Status.RUNNING, timedelta(seconds=5))
    crashed_earlier = an_import(DataImport.Status.FAILED, timedelta(days=1))
    for data_import in (lost, alive, crashed_earlier):
        staging.create(data_import.pk)

    assert services.stale_imports_fail() == 1

    lost.refresh_from_db()
    alive.refresh_from_db()
    assert lost.status == DataImport.Status.FAILED
    assert lost.finished_at is not None
    assert "Worker lost" in lost.message
    assert "upload the file again" in lost.message
    assert alive.status == DataImport.Status.RUNNING
    assert staging.staged_import_ids() == {alive.pk}  # the running import keeps its stage


@pytest.mark.django_db
def test_the_reaper_leaves_pending_and_finished_imports_alone():
    pending = an_import(DataImport.Status.PENDING, timedelta(hours=1))
    finished = an_import(DataImport.Status.SUCCEEDED, timedelta(hours=1))

    assert services.stale_imports_fail() == 0

    assert DataImport.objects.get(pk=pending.pk).status == DataImport.Status.PENDING
    assert DataImport.objects.get(pk=finished.pk).status == DataImport.Status.SUCCEEDED


@pytest.mark.django_db(transaction=True)
def test_the_heartbeat_moves_while_the_block_runs(settings):
    settings.RECSITE_HEARTBEAT_SECONDS = 0.02
    data_import = an_import(DataImport.Status.RUNNING, timedelta(hours=1))
    before = data_import.heartbeat_at

    with jobs.heartbeat(DataImport, data_import.pk):
        beat = wait_for(lambda: DataImport.objects.get(pk=data_import.pk).heartbeat_at > before)

    assert beat


@pytest.mark.django_db(transaction=True)
def test_an_import_keeps_beating_inside_its_merge_transaction(settings, monkeypatch):
    """The reaper must not take a long merge for a lost worker: beats land while it runs."""
    if connection.vendor != "postgresql":
        pytest.skip("SQLite holds every writer off while the merge's transaction is open")
    settings.RECSITE_HEARTBEAT_SECONDS = 0.02
    beats_during_merge: list[bool] = []
    real_upsert = staging._upsert_interactions

    def upsert_after_a_beat(cursor, table):  # type: ignore[no-untyped-def]
        data_import = DataImport.objects.get(status=DataImport.Status.RUNNING)
        seen = data_import.heartbeat_at
        beats_during_merge.append(
            wait_for(lambda: DataImport.objects.get(pk=data_import.pk).heartbeat_at > seen)
        )
        return real_upsert(cursor, table)

    monkeypatch.setattr(staging, "_upsert_interactions", upsert_after_a_beat)

    finished = run_import("r.csv", CSV)

    assert finished.status == DataImport.Status.SUCCEEDED, finished.message
    assert beats_during_merge == [True]


@pytest.mark.django_db
def test_a_running_import_shows_what_it_is_doing(monkeypatch, operator_api):
    phases: list[str] = []

    def record_phase(real):  # type: ignore[no-untyped-def]
        def spy(*args, **kwargs):  # type: ignore[no-untyped-def]
            running = DataImport.objects.get(status=DataImport.Status.RUNNING)
            phases.append(operator_api.get(f"/api/v1/imports/{running.pk}/").json()["phase"])
            return real(*args, **kwargs)

        return spy

    monkeypatch.setattr(staging.Writer, "write", record_phase(staging.Writer.write))
    monkeypatch.setattr(staging, "merge", record_phase(staging.merge))

    finished = run_import("r.csv", CSV)

    assert phases == [import_run.READING, import_run.MERGING]
    assert finished.phase == ""
