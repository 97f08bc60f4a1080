"""The feedback loop: retrain on a schedule or after enough new feedback; ship only if better."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

import pandas as pd
from django.db.models import Q
from django.utils import timezone

from catalog.models import Interaction
from catalog.selectors import item_content_frame, rater_attributes_frame
from recommender.algorithms import UnknownAlgorithm
from recommender.algorithms.base import ConfigError, TrainOptions
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


#: A refresh (the active run's own settings on newer data) ships unless its figure is more
#: than this fraction worse than the active run's recorded one. The two figures come from
#: different data (the test sets differ), so a small gap is noise, not a worse model; and a
#: strict comparison on the same split could never pass, since the same settings score the same.
REFRESH_TOLERANCE = 0.02
#: Gate metrics where a smaller figure is the better model.
LOWER_IS_BETTER = frozenset({"rmse", "mae"})


def quality_gate(
    run: TrainingRun, frame: pd.DataFrame, options: TrainOptions, signal: Signal
) -> GateVerdict:
    """Should the automatic retrain ``run`` replace the active run? The rule, two cases:

    * Different settings (algorithm, config or signal): the active run's settings are trained
      and measured on exactly the candidate's split (same frame, protocol, seed, signal,
      content and diversity); the candidate ships only if it is strictly better there.
    * The same settings (a refresh with newer data): retraining them on the same split would
      only reproduce the candidate's figure, so the candidate is held to the active run's
      recorded figure instead and ships unless it is more than REFRESH_TOLERANCE worse.

    The verdict's message is the "why" shown on the run page.
    """
    metric = ServingPolicy.current().gate_metric
    active = TrainingRun.objects.filter(is_active=True).exclude(pk=run.pk).first()
    candidate = run.metrics.get(metric)
    if candidate is None:
        return GateVerdict(False, f"Kept as a candidate: it has no {metric} to compare.")
    if active is None:
        return GateVerdict(True, f"Shipped: no model was active ({metric} {candidate:.4f}).")
    if _settings(active) == _settings(run):
        return _refresh_verdict(run, active, metric, candidate)
    return _challenger_verdict(run, active, metric, candidate, frame, options, signal)


def _settings(run: TrainingRun) -> tuple[str, str, str]:
    # Configs are stored resolved (defaults filled in), so equal settings compare equal.
    signal = Signal.from_dict(run.signal).to_dict()
    return run.algorithm, json.dumps(run.config, sort_keys=True), json.dumps(signal, sort_keys=True)


def _better(metric: str, a: float, b: float) -> bool:
    return a < b if metric in LOWER_IS_BETTER else a > b


def _refresh_verdict(
    run: TrainingRun, active: TrainingRun, metric: str, candidate: float
) -> GateVerdict:
    what = f"a refresh of run {active.pk}'s settings with newer data"
    recorded = active.metrics.get(metric)
    same_protocol = active.protocol == run.protocol and active.metrics.get(
        "serving_diversity"
    ) == run.metrics.get("serving_diversity")
    if recorded is None or not same_protocol:
        return GateVerdict(
            True,
            f"Shipped: {what}; run {active.pk} has no {metric} measured under this protocol "
            f"and diversity to hold it to ({metric} {candidate:.4f}).",
        )
    sign = 1 if metric in LOWER_IS_BETTER else -1
    limit = recorded * (1 + sign * REFRESH_TOLERANCE)
    figures = f"{metric} {candidate:.4f} vs its recorded {recorded:.4f}"
    tolerance = f"{REFRESH_TOLERANCE:.0%}"
    if not _better(metric, limit, candidate):  # at the limit or better
        return GateVerdict(True, f"Shipped: {what}; {figures}, within the {tolerance} tolerance.")
    return GateVerdict(
        False,
        f"Kept as a candidate: {what}, but {figures} is more than {tolerance} worse.",
    )


def _challenger_verdict(
    run: TrainingRun,
    active: TrainingRun,
    metric: str,
    candidate: float,
    frame: pd.DataFrame,
    options: TrainOptions,
    signal: Signal,
) -> GateVerdict:
    try:
        result = run_protocol(
            frame,
            active.algorithm,
            active.config,
            run.protocol,
            options,
            signal=signal,
            item_features=item_content_frame(),
            user_features=rater_attributes_frame(),
            diversity=float(run.metrics.get("serving_diversity", 0.0)),
        )
    except (UnknownAlgorithm, ConfigError) as exc:
        return GateVerdict(
            True, f"Shipped: run {active.pk}'s settings can no longer be trained ({exc})."
        )
    baseline = result.metrics.get(metric)
    if baseline is None:
        return GateVerdict(True, f"Shipped: run {active.pk}'s settings give no {metric}.")
    figures = (
        f"{metric} {candidate:.4f} vs {baseline:.4f} for run {active.pk}'s settings "
        f"({active.algorithm}) retrained on the same split (protocol {run.protocol}, "
        f"seed {run.seed})"
    )
    if _better(metric, candidate, baseline):
        return GateVerdict(True, f"Shipped: better, {figures}.")
    return GateVerdict(False, f"Kept as a candidate: not better, {figures}.")
