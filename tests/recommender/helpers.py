"""Helpers for recommender tests: train a run synchronously."""

from __future__ import annotations

from typing import Any

from recommender import services
from recommender.models import TrainingRun


def launch(algorithm: str = "itemknn", **kwargs: Any) -> TrainingRun:
    """Create and execute a run in-process; the run must succeed."""
    run = services.training_run_create(algorithm=algorithm, enqueue=False, **kwargs)
    services.training_run_execute(run_id=run.pk)
    run.refresh_from_db()
    assert run.status == TrainingRun.Status.SUCCEEDED, run.error
    return run
