"""Hyper-parameter search: a parent job whose trials are ordinary training runs.

Trials are scored on protocol ``p1-inner`` (an inner split of P1's training part), so P1's test
rows never choose a setting; the best setting is then run once on P1 as the search's final run.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.utils import timezone

from recommender.algorithms import UnknownAlgorithm, get_algorithm
from recommender.algorithms.base import ConfigError
from recommender.models import HyperparameterSearch, TrainingRun
from recommender.search import SAMPLERS, Sampler, default_space, validate_space
from recommender.services.training import (
    TrainingConfigError,
    training_run_create,
    training_run_execute,
)

logger = logging.getLogger(__name__)

MAX_TRIALS = 200


def search_create(
    *,
    algorithm: str,
    space: dict[str, Any] | None = None,
    sampler: str = "tpe",
    max_trials: int = 20,
    time_budget_seconds: int = 0,
    metric: str = "ndcg_at_10",
    seed: int = 42,
    created_by: AbstractBaseUser | AnonymousUser | None = None,
    enqueue: bool = True,
) -> HyperparameterSearch:
    """Validate a search and queue it on the training queue after commit."""
    try:
        get_algorithm(algorithm)
        space = validate_space(algorithm, space or default_space(algorithm))
    except UnknownAlgorithm as exc:
        raise TrainingConfigError("algorithm", str(exc)) from exc
    except ConfigError as exc:
        raise TrainingConfigError(exc.field, exc.message) from exc
    if sampler not in SAMPLERS:
        raise TrainingConfigError("sampler", f"one of {', '.join(SAMPLERS)}")
    if not 1 <= max_trials <= MAX_TRIALS:
        raise TrainingConfigError("max_trials", f"between 1 and {MAX_TRIALS}")
    if time_budget_seconds < 0:
        raise TrainingConfigError("time_budget_seconds", "0 (no limit) or more")
    user = created_by if created_by is not None and created_by.is_authenticated else None
    search = HyperparameterSearch.objects.create(
        algorithm=algorithm,
        space=space,
        sampler=sampler,
        max_trials=max_trials,
        time_budget_seconds=time_budget_seconds,
        metric=metric,
        seed=seed,
        created_by=user,
    )
    if enqueue:
        from recommender.tasks import training_search_run_task

        training_search_run_task.delay_on_commit(search.pk)
    return search


def search_run(*, search_id: int) -> None:
    """Claim a pending search and run its trials, then the final P1 run of the best setting."""
    claimed = HyperparameterSearch.objects.filter(
        pk=search_id, status=HyperparameterSearch.Status.PENDING
    ).update(status=HyperparameterSearch.Status.RUNNING, started_at=timezone.now())
    if not claimed:
        return
    search = HyperparameterSearch.objects.get(pk=search_id)
    try:
        _run_trials(search)
        search.refresh_from_db()
        if search.cancel_requested:
            _finish(search, HyperparameterSearch.Status.CANCELLED)
            return
        _run_final(search)
    except Exception as exc:
        logger.exception("search %s crashed", search_id)
        _finish(search, HyperparameterSearch.Status.FAILED, f"{type(exc).__name__}: {exc}")
        raise
    _finish(search, HyperparameterSearch.Status.SUCCEEDED)


def _run_trials(search: HyperparameterSearch) -> None:
    sampler = Sampler(search.space, search.sampler, search.seed)
    for trial in search.trials.filter(protocol="p1-inner").order_by("id"):
        sampler.replay(trial.config, trial.metrics.get(search.metric))  # resume after a restart
    deadline = time.monotonic() + search.time_budget_seconds if search.time_budget_seconds else None
    while search.trials.filter(protocol="p1-inner").count() < search.max_trials:
        if deadline is not None and time.monotonic() >= deadline:
            break
        if HyperparameterSearch.objects.filter(pk=search.pk, cancel_requested=True).exists():
            break
        config = sampler.ask()
        value = _run_trial(search, config)
        sampler.tell(value)


def _run_trial(search: HyperparameterSearch, config: dict[str, Any]) -> float | None:
    try:
        run = training_run_create(
            algorithm=search.algorithm,
            config=config,
            protocol="p1-inner",
            seed=search.seed,
            trigger="search",
            search=search,
            enqueue=False,
        )
    except TrainingConfigError as exc:
        logger.info("search %s: skipped invalid trial %s (%s)", search.pk, config, exc)
        return None
    training_run_execute(run_id=run.pk)
    run.refresh_from_db()
    value = run.metrics.get(search.metric) if run.status == TrainingRun.Status.SUCCEEDED else None
    if value is not None and (search.best_value is None or value > search.best_value):
        search.best_value, search.best_run = value, run
        HyperparameterSearch.objects.filter(pk=search.pk).update(best_value=value, best_run=run)
    return value


def _run_final(search: HyperparameterSearch) -> None:
    if search.best_run is None:
        raise RuntimeError("no trial succeeded")
    run = training_run_create(
        algorithm=search.algorithm,
        config=search.best_run.config,
        protocol="p1",
        seed=search.seed,
        trigger="search",
        search=search,
        enqueue=False,
    )
    training_run_execute(run_id=run.pk)
    HyperparameterSearch.objects.filter(pk=search.pk).update(final_run=run)


def _finish(search: HyperparameterSearch, status: str, error: str = "") -> None:
    HyperparameterSearch.objects.filter(pk=search.pk).update(
        status=status, error=error, finished_at=timezone.now()
    )


def search_cancel(*, search: HyperparameterSearch) -> None:
    """Stop after the current trial (a pending search ends at once)."""
    HyperparameterSearch.objects.filter(
        pk=search.pk, status=HyperparameterSearch.Status.PENDING
    ).update(status=HyperparameterSearch.Status.CANCELLED, finished_at=timezone.now())
    HyperparameterSearch.objects.filter(pk=search.pk).update(cancel_requested=True)
