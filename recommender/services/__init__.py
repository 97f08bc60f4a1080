"""Writes and workflows for training runs, activation and serving data."""

from recommender.services.activation import (
    ActivationError,
    recommendations_precompute,
    training_run_activate,
)
from recommender.services.retraining import quality_gate, retrain_check, retrain_due
from recommender.services.search import search_cancel, search_create, search_run
from recommender.services.training import (
    TrainingConfigError,
    TrainingFailed,
    stale_runs_fail,
    training_frame,
    training_run_cancel,
    training_run_create,
    training_run_execute,
)

__all__ = [
    "ActivationError",
    "quality_gate",
    "search_cancel",
    "search_create",
    "search_run",
    "retrain_check",
    "retrain_due",
    "TrainingConfigError",
    "TrainingFailed",
    "recommendations_precompute",
    "stale_runs_fail",
    "training_frame",
    "training_run_activate",
    "training_run_cancel",
    "training_run_create",
    "training_run_execute",
]
