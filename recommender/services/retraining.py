"""The feedback loop: retrain on a schedule or after enough new feedback; ship only if better."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

import pandas as pd
from django.db.models import Q
from django.utils import timezone

from catalog.models import Interaction
from recommender.algorithms.base import TrainOptions
from recommender.models import ServingPolicy, TrainingRun
from recommender.pipeline import Signal, run_protocol

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class GateVerdict:
    passed: bool
    message: str


def retrain_due(policy: ServingPolicy, now: datetime) -> str:
    """The trigger that makes a retrain due now ("schedule", "threshold"), or ""."""
    last = policy.last_retrain_at
    if policy.retrain_every_hours > 0 and (
        last is None or now - last >= timedelta(hours=policy.retrain_every_hours)
    ):
        return "schedule"
    if policy.retrain_after_interactions > 0:
        fresh = Interaction.objects.filter(source__in=["site", "api"])
        if last is not None:
            fresh = fresh.filter(occurred_at__gt=last)
        if fresh.count() >= policy.retrain_after_interactions:
            return "threshold"
    return ""


def retrain_check(*, now: datetime | None = None) -> TrainingRun | None:
    """Launch an automatic retrain when the policy says one is due (called by beat)."""
    from recommender.services.training import training_run_create

    now = now or timezone.now()
    policy = ServingPolicy.current()
    trigger = retrain_due(policy, now)
    busy = TrainingRun.objects.filter(
        ~Q(trigger="manual"), status__in=[TrainingRun.Status.PENDING, TrainingRun.Status.RUNNING]
    ).exists()
    if not trigger or busy:
        return None
    run = training_run_create(
        algorithm=policy.retrain_algorithm, config=policy.retrain_config, trigger=trigger
    )
    ServingPolicy.objects.filter(pk=policy.pk).update(last_retrain_at=now)
    logger.info("retrain %s launched (%s)", run.pk, trigger)
    return run


def quality_gate(
    run: TrainingRun, frame: pd.DataFrame, options: TrainOptions, signal: Signal
) -> GateVerdict:
    """Does ``run`` beat the active run on the same protocol and the same data?

    The active run's algorithm and settings are trained and measured on exactly the split the
    candidate was measured on (same frame, protocol and seed), so the two figures compare like
    with like. Equal settings give equal figures: the candidate then ships, since it has seen
    the newer data.
    """
    metric = ServingPolicy.current().gate_metric
    active = TrainingRun.objects.filter(is_active=True).first()
    candidate = run.metrics.get(metric)
    if candidate is None:
        return GateVerdict(False, f"Kept as a candidate: it has no {metric} to compare.")
    if active is None:
        return GateVerdict(True, f"Shipped: no model was active ({metric} {candidate:.4f}).")
    if (active.algorithm, active.config) == (run.algorithm, run.config):
        baseline = candidate
    else:
        result = run_protocol(
            frame, active.algorithm, active.config, run.protocol, options, signal=signal
        )
        baseline = result.metrics.get(metric, float("-inf"))
    verdict = f"{metric} {candidate:.4f} vs {baseline:.4f} for run {active.pk}'s settings"
    if candidate >= baseline:
        return GateVerdict(True, f"Shipped: {verdict} on the same data.")
    return GateVerdict(False, f"Kept as a candidate: {verdict} on the same data.")
