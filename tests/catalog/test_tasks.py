"""Imports run on a real Celery worker over the configured broker (Redis in CI)."""

from __future__ import annotations

import pytest

from catalog import services
from catalog.models import DataImport, Interaction
from tests.catalog.helpers import upload

CSV = "user_id,item_id,rating,timestamp\nu1,i1,4,1700000000\nu2,i1,5,1700000001\n"


@pytest.mark.integration
def test_an_uploaded_import_runs_on_the_worker(celery_worker, operator):
    data_import = services.data_import_create(
        file=upload("r.csv", CSV), original_name="r.csv", uploaded_by=operator
    )

    finished = services.wait_for_import(data_import.pk, timeout=60)

    assert finished.status == DataImport.Status.SUCCEEDED, finished.message
    assert Interaction.objects.count() == 2


@pytest.mark.django_db
def test_the_task_is_enqueued_only_after_commit(django_capture_on_commit_callbacks, operator):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        data_import = services.data_import_create(
            file=upload("r.csv", CSV), original_name="r.csv", uploaded_by=operator
        )

    assert DataImport.objects.get(pk=data_import.pk).status == DataImport.Status.PENDING
    assert len(callbacks) == 1
