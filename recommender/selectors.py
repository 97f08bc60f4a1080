"""Reads for training runs: lists, metric frames, the algorithm catalogue."""

from __future__ import annotations

import dataclasses
from typing import Any

import pandas as pd
from django.db.models import QuerySet

from recommender.algorithms import ALGORITHMS
from recommender.models import EpochMetric, ModelActivation, TrainingRun


def training_run_list(*, algorithm: str = "", status: str = "") -> QuerySet[TrainingRun]:
    runs = TrainingRun.objects.select_related("created_by")
    if algorithm:
        runs = runs.filter(algorithm=algorithm)
    if status:
        runs = runs.filter(status=status)
    return runs.order_by("-created_at", "-id")


def training_run_get(*, run_id: int) -> TrainingRun:
    return TrainingRun.objects.get(pk=run_id)


def active_run_get() -> TrainingRun | None:
    return TrainingRun.objects.filter(is_active=True).first()


def training_run_metrics_frame(*, run: TrainingRun) -> pd.DataFrame:
    """Per-epoch metrics, one column per metric name, indexed by epoch."""
    rows = EpochMetric.objects.filter(run=run).values_list("epoch", "name", "value")
    frame = pd.DataFrame.from_records(list(rows), columns=["epoch", "name", "value"])
    if frame.empty:
        return pd.DataFrame(index=pd.Index([], name="epoch"))
    return frame.pivot(index="epoch", columns="name", values="value").sort_index()


def activation_list() -> QuerySet[ModelActivation]:
    return ModelActivation.objects.select_related("run", "previous_run", "activated_by")


def algorithm_catalogue() -> list[dict[str, Any]]:
    """Every registered algorithm with its hyper-parameters, types and defaults."""
    catalogue = []
    for name, model_class in sorted(ALGORITHMS.items()):
        config_class = model_class.config_class
        fields = [
            {"name": f.name, "type": str(f.type), "default": _default(f)}
            for f in dataclasses.fields(config_class)
        ]
        catalogue.append(
            {
                "name": name,
                "predicts_ratings": model_class.predicts_ratings,
                "description": (model_class.__doc__ or "").strip().split("\n")[0],
                "params": fields,
            }
        )
    return catalogue


def _default(field: dataclasses.Field) -> Any:  # type: ignore[type-arg]
    if field.default is not dataclasses.MISSING:
        return field.default
    if field.default_factory is not dataclasses.MISSING:
        return field.default_factory()
    return None
