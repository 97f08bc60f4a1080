"""Celery tasks for the catalog: thin wrappers that call services with primitive ids."""

from __future__ import annotations

from celery import shared_task

from catalog import services


@shared_task(autoretry_for=(OSError,), retry_backoff=True, max_retries=3)
def data_import_run_task(import_id: int) -> None:
    services.data_import_run(import_id=import_id)


@shared_task
def stale_imports_fail_task() -> int:
    return services.stale_imports_fail()
