"""Training runs: create (validated), execute on the worker, cancel, and reap lost workers."""

from __future__ import annotations

import logging
import socket
from datetime import timedelta
from pathlib import Path
from typing import Any

import pandas as pd
from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.utils import timezone

from catalog import freshness, jobs
from catalog.selectors import item_content_frame, rater_attributes_frame, ratings_frame
from recommender.algorithms import UnknownAlgorithm
from recommender.algorithms.base import ConfigError, TrainOptions, check_validation_share
from recommender.artifacts import save_artifact
from recommender.evaluation.significance import per_user_columns
from recommender.models import EpochMetric, PerUserMetrics, ServingPolicy, TrainingRun
from recommender.pipeline import (
    PROTOCOLS,
    Signal,
    build_model,
    dataset_fingerprint,
    fit_for_serving,
    run_protocol,
    serving_options,
)
from recommender.services.retraining import quality_gate
from recommender.training import TrainingCancelled

logger = logging.getLogger(__name__)

#: Protocols that carve a validation share out of their training part (P3 has its own
#: validation row per rater; P2 and the cold-start protocols have none).
VALIDATION_SHARE_PROTOCOLS = ("p1", "p1-inner")


class TrainingConfigError(Exception):
    """A launch request is invalid; ``field`` names the bad value."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class TrainingFailed(Exception):  # noqa: N818 - a job outcome, named per DESIGN.md section 5
    """An expected failure (bad or missing data) that ends a run as FAILED."""


def training_run_create(
    *,
    algorithm: str,
    config: dict[str, Any] | None = None,
    protocol: str = "p1",
    seed: int = 42,
    signal: dict[str, Any] | None = None,
    validation_share: float = 0.0,
    created_by: AbstractBaseUser | AnonymousUser | None = None,
    enqueue: bool = True,
    trigger: str = "manual",
    search: Any = None,
) -> TrainingRun:
    """Validate a launch and queue it on the training queue after commit.

    ``validation_share`` (0 <= x < 0.5, 0 = off) holds that share of each rater's P1 training
    rows out for per-epoch validation and early stopping; models that fit in closed form
    ignore it.
    """
    try:
        model = build_model(algorithm, config)
        parsed_signal = Signal.from_dict(signal)
        validation_share = check_validation_share(validation_share)
    except UnknownAlgorithm as exc:
        raise TrainingConfigError("algorithm", str(exc)) from exc
    except ConfigError as exc:
        raise TrainingConfigError(exc.field, exc.message) from exc
    if protocol not in PROTOCOLS:
        raise TrainingConfigError(
            "protocol", f"unknown protocol {protocol!r}: one of {list(PROTOCOLS)}"
        )
    if protocol == "p2" and not model.predicts_ratings:
        raise TrainingConfigError("protocol", f"{algorithm} does not predict ratings; use p1 or p3")
    if validation_share and protocol not in VALIDATION_SHARE_PROTOCOLS:
        raise TrainingConfigError(
            "validation_share",
            f"only P1 holds out a validation share (protocol {protocol!r}: use 0; "
            "P3 validates on each rater's second-to-last item anyway)",
        )
    user = created_by if created_by is not None and created_by.is_authenticated else None
    epochs = int(getattr(model.config, "epochs", 1) or 1)
    run = TrainingRun.objects.create(
        algorithm=algorithm,
        config=model.config.to_dict(),
        signal=parsed_signal.to_dict(),
        protocol=protocol,
        validation_share=validation_share,
        seed=seed,
        epochs_total=2 * epochs,  # the evaluation fit, then the fit on all data for serving
        created_by=user,
        trigger=trigger,
        search=search,
    )
    if enqueue:
        from recommender.tasks import training_run_execute_task

        training_run_execute_task.delay_on_commit(run.pk)
    return run


def training_frame() -> pd.DataFrame:
    """Every interaction as the ML core expects it: string ids (database keys), Unix seconds.

    One SELECT, so a concurrent import (merged in one transaction) is seen entirely or not at all.
    """
    frame = ratings_frame()
    return pd.DataFrame(
        {
            "user_id": frame["rater_id"].astype(str),
            "item_id": frame["item_id"].astype(str),
            "event_type": frame["event_type"].astype(str),
            "value": frame["value"].astype("float64"),
            "timestamp": pd.to_datetime(frame["occurred_at"], utc=True).astype("int64") // 10**9,
        }
    )


def training_run_execute(*, run_id: int) -> None:
    """Claim a pending run and train, evaluate, fit for serving and save it."""
    now = timezone.now()
    claimed = TrainingRun.objects.filter(pk=run_id, status=TrainingRun.Status.PENDING).update(
        status=TrainingRun.Status.RUNNING,
        started_at=now,
        heartbeat_at=now,
        worker=socket.gethostname(),
    )
    if not claimed:
        logger.info("run %s was not pending; nothing to do", run_id)
        return
    run = TrainingRun.objects.get(pk=run_id)
    try:
        with jobs.heartbeat(TrainingRun, run.pk):
            ship = _train_evaluate_save(run)
    except TrainingCancelled:
        _finish(run, TrainingRun.Status.CANCELLED, error="Cancelled by an operator.")
    except (TrainingFailed, ConfigError) as exc:
        _finish(run, TrainingRun.Status.FAILED, error=str(exc))
    except Exception as exc:
        logger.exception("run %s crashed", run_id)
        _finish(run, TrainingRun.Status.FAILED, error=f"{type(exc).__name__}: {exc}")
        raise
    else:
        _finish(run, TrainingRun.Status.SUCCEEDED)
        if ship:
            from recommender.services.activation import training_run_activate

            training_run_activate(run=run)


def _train_evaluate_save(run: TrainingRun) -> bool:
    """Train, evaluate and save; True when an automatic retrain passed its quality gate."""
    frame = training_frame()
    if frame.empty:
        raise TrainingFailed("There are no interactions to train on: import data first.")
    run.dataset_stats = dataset_fingerprint(frame)
    signal = Signal.from_dict(run.signal)
    options = TrainOptions(
        device=settings.RECSITE_DEVICE,
        seed=run.seed,
        threads=settings.RECSITE_TORCH_THREADS,
        validation_share=run.validation_share,
    )
    recorder = _EpochRecorder(run)
    _phase(run, "evaluating")
    # Content and attribute models learn from these; genres also give the diversity figures.
    content, raters = item_content_frame(), rater_attributes_frame()
    diversity = ServingPolicy.current().diversity
    result = run_protocol(
        frame,
        run.algorithm,
        run.config,
        run.protocol,
        options,
        recorder.evaluation,
        signal,
        item_features=content,
        user_features=raters,
        diversity=diversity,
    )
    # Measured as served: with the policy's diversity re-ranking, recorded beside the figures.
    run.metrics = {**result.metrics, "serving_diversity": float(diversity)}
    if result.per_user is not None:  # kept for paired tests on the compare page
        PerUserMetrics.objects.update_or_create(
            run=run, defaults={"columns": per_user_columns(result.per_user)}
        )
    if recorder.epochs_done == 0:  # closed-form models fit in one step and report no epochs
        recorder.evaluation(1, {"fit_seconds": result.fit_seconds})
    ship = False
    if run.trigger != "manual":
        _phase(run, "quality gate")
        verdict = quality_gate(run, frame, options, signal)
        run.gate, ship = verdict.message, verdict.passed
    run.timings = {
        "fit_seconds": round(result.fit_seconds, 3),
        "evaluate_seconds": round(result.evaluate_seconds, 3),
    }
    if result.best_epoch is not None:  # validation chose it; the serving fit trains as many
        run.timings["best_epoch"] = result.best_epoch
    if run.protocol == "p1-inner":  # a search trial: scored for tuning, never served
        return False
    _phase(run, "fitting for serving")
    # Without validation data to stop on, the serving fit trains the epochs validation chose.
    model, train = fit_for_serving(
        frame,
        run.algorithm,
        run.config,
        serving_options(options, result.best_epoch),
        signal,
        recorder.serving,
        content,
        raters,
    )
    relative = f"artifacts/run-{run.pk}.pt"
    save_artifact(
        model, train.users, train.items, Path(settings.MEDIA_ROOT) / relative, run.metrics
    )
    run.artifact.name = relative
    return ship


class _EpochRecorder:
    """The database is the progress bar: upsert EpochMetric rows, bump progress, check cancel."""

    def __init__(self, run: TrainingRun) -> None:
        self.run = run
        self.epochs_done = 0

    def evaluation(self, epoch: int, metrics: dict[str, float]) -> None:
        for name, value in metrics.items():
            EpochMetric.objects.update_or_create(
                run=self.run, epoch=epoch, name=name, defaults={"value": float(value)}
            )
        self._tick()

    def serving(self, epoch: int, metrics: dict[str, float]) -> None:
        self._tick()

    def _tick(self) -> None:
        self.epochs_done += 1
        TrainingRun.objects.filter(pk=self.run.pk).update(
            epochs_done=self.epochs_done, heartbeat_at=timezone.now()
        )
        if TrainingRun.objects.filter(pk=self.run.pk, cancel_requested=True).exists():
            raise TrainingCancelled()


def _phase(run: TrainingRun, phase: str) -> None:
    TrainingRun.objects.filter(pk=run.pk).update(phase=phase, heartbeat_at=timezone.now())


def _finish(run: TrainingRun, status: str, error: str = "") -> None:
    run.refresh_from_db(fields=["epochs_done", "cancel_requested"])
    run.status = status
    run.error = error
    run.phase = ""
    run.finished_at = timezone.now()
    if status == TrainingRun.Status.SUCCEEDED:
        run.epochs_done = run.epochs_total = max(run.epochs_done, 1)
    run.save()
    if status == TrainingRun.Status.SUCCEEDED:
        freshness.mark_all_changed()  # new-item and new-rater lists use the latest content runs
    logger.info("run %s finished: %s %s", run.pk, status, error)


def training_run_cancel(*, run: TrainingRun) -> TrainingRun:
    """Cancel a pending run at once; ask a running one to stop after its current epoch."""
    TrainingRun.objects.filter(pk=run.pk, status=TrainingRun.Status.PENDING).update(
        status=TrainingRun.Status.CANCELLED,
        finished_at=timezone.now(),
        cancel_requested=True,
        error="Cancelled before it started.",
    )
    TrainingRun.objects.filter(pk=run.pk, status=TrainingRun.Status.RUNNING).update(
        cancel_requested=True
    )
    run.refresh_from_db()
    return run


def stale_runs_fail(*, older_than: timedelta = jobs.STALE_AFTER) -> int:
    """Mark RUNNING runs whose worker stopped sending heartbeats as FAILED ("worker lost")."""
    return jobs.stale_fail(
        TrainingRun.objects.filter(status=TrainingRun.Status.RUNNING),
        older_than=older_than,
        message_field="error",
        advice="Launch the run again.",
    )
