"""Putting a run in service (and rolling back), and precomputing every rater's top-N."""

from __future__ import annotations

import logging

import numpy as np
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db import transaction

from catalog import freshness
from recommender.models import ModelActivation, RecommendationSnapshot, TrainingRun

logger = logging.getLogger(__name__)

PRECOMPUTE_N = 50
PRECOMPUTE_BATCH = 1024


class ActivationError(Exception):
    """The run cannot be put in service."""


def training_run_activate(
    *, run: TrainingRun, activated_by: AbstractBaseUser | AnonymousUser | None = None
) -> TrainingRun:
    """Make ``run`` the one active model; activating an older run is the rollback."""
    if run.status != TrainingRun.Status.SUCCEEDED or not run.artifact:
        raise ActivationError(f"run {run.pk} has no trained model to activate ({run.status})")
    user = activated_by if activated_by is not None and activated_by.is_authenticated else None
    with transaction.atomic():
        # Lock the active row so two activations at once serialise instead of both winning.
        previous = TrainingRun.objects.select_for_update().filter(is_active=True).first()
        if previous is not None and previous.pk == run.pk:
            return run
        TrainingRun.objects.filter(is_active=True).update(is_active=False)
        TrainingRun.objects.filter(pk=run.pk).update(is_active=True)
        ModelActivation.objects.create(run=run, previous_run=previous, activated_by=user)
        from recommender.tasks import recommendations_precompute_task

        recommendations_precompute_task.delay_on_commit(run.pk)
        freshness.mark_all_changed()
    run.is_active = True
    return run


def recommendations_precompute(*, run_id: int, n: int = PRECOMPUTE_N) -> int:
    """Store every known rater's top-``n`` for ``run_id`` in vectorised batches."""
    from recommender.serving import history_frame, loaded_model, rater_batch_from_training

    run = TrainingRun.objects.get(pk=run_id)
    loaded = loaded_model(run)
    rater_ids = np.array([int(i) for i in loaded.users.ids()], dtype=np.int64)
    item_pks = np.array([int(i) for i in loaded.items.ids()], dtype=np.int64)
    snapshots = []
    for start in range(0, len(rater_ids), PRECOMPUTE_BATCH):
        user_idx = np.arange(start, min(start + PRECOMPUTE_BATCH, len(rater_ids)))
        history = history_frame(rater_ids[user_idx])
        batch = rater_batch_from_training(loaded, user_idx, rater_ids[user_idx], run, history)
        sizes = history.groupby("rater_id").size().to_dict()
        top_idx, top_scores = loaded.model.recommend(batch, n)
        snapshots.extend(
            RecommendationSnapshot(
                run_id=run_id,
                rater_id=int(rater_ids[u]),
                item_ids=item_pks[row[np.isfinite(scores)]].tolist(),
                scores=[round(float(s), 6) for s in scores[np.isfinite(scores)]],
                history_size=sizes.get(int(rater_ids[u]), 0),
            )
            for u, row, scores in zip(user_idx, top_idx, top_scores, strict=True)
        )
    with transaction.atomic():
        RecommendationSnapshot.objects.filter(run_id=run_id).delete()
        RecommendationSnapshot.objects.bulk_create(snapshots, batch_size=2000)
        freshness.mark_all_changed()
    logger.info("run %s: precomputed %s raters' top-%s", run_id, len(snapshots), n)
    return len(snapshots)
