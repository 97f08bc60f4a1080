"""Celery tasks for training and serving data: thin wrappers over services."""

from __future__ import annotations

from celery import shared_task

from recommender import services


@shared_task
def training_run_execute_task(run_id: int) -> None:
    services.training_run_execute(run_id=run_id)


@shared_task
def recommendations_precompute_task(run_id: int) -> None:
    services.recommendations_precompute(run_id=run_id)


@shared_task
def stale_runs_fail_task() -> int:
    return services.stale_runs_fail()


@shared_task
def retrain_check_task() -> None:
    services.retrain_check()


@shared_task
def training_search_run_task(search_id: int) -> None:
    """Routed to the training queue with the runs: its trials train in this task, one by one."""
    services.search_run(search_id=search_id)
