"""Serving: the active run's recommendations for a rater, with fresh ratings folded in.

The active run's artifact is loaded once per process (keyed by run id). A rater whose
interactions are no newer than the precomputed list gets that list (a lookup); one with newer
interactions, or unknown to the model, is scored on the fly from their *current* interactions;
a rater with none gets the most popular items.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp
from django.conf import settings
from django.db.models import Count, Max

from catalog.models import Interaction, Item, Rater
from recommender.artifacts import LoadedModel, load_artifact
from recommender.data import UserBatch
from recommender.models import RecommendationSnapshot, TrainingRun
from recommender.pipeline import Signal

logger = logging.getLogger(__name__)

_CACHE: dict[tuple[int, str, int], LoadedModel] = {}
_CACHE_LOCK = threading.Lock()
_CACHE_SIZE = 4


@dataclass(frozen=True)
class Recommendation:
    item: Item
    score: float
    reason: str


@dataclass(frozen=True)
class RecommendationList:
    items: list[Recommendation]
    strategy: str  # "precomputed", "folded-in", "popularity"
    explanation: str  # the strategy in words, for pages and the API
    run_id: int | None


def active_run() -> TrainingRun | None:
    return TrainingRun.objects.filter(is_active=True).first()


def loaded_model(run: TrainingRun) -> LoadedModel:
    """The run's artifact, loaded once per process.

    The key includes the file's path and modification time, so a rewritten artifact (or a
    database that reuses run ids, as test databases do) is never served from a stale entry.
    """
    path = Path(settings.MEDIA_ROOT) / run.artifact.name
    key = (run.pk, str(path), path.stat().st_mtime_ns)
    with _CACHE_LOCK:
        if key not in _CACHE:
            if len(_CACHE) >= _CACHE_SIZE:
                _CACHE.pop(next(iter(_CACHE)))
            _CACHE[key] = load_artifact(path)
        return _CACHE[key]


def _history_frame(rater_ids: np.ndarray) -> pd.DataFrame:
    rows = Interaction.objects.filter(rater_id__in=[int(r) for r in rater_ids]).values_list(
        "rater_id", "item_id", "event_type", "value", "occurred_at"
    )
    frame = pd.DataFrame.from_records(
        list(rows), columns=["rater_id", "item_id", "event_type", "value", "occurred_at"]
    )
    return frame.sort_values(["rater_id", "occurred_at"], kind="stable")


def _batch(
    loaded: LoadedModel,
    signal: Signal,
    user_idx: np.ndarray,
    rater_ids: np.ndarray,
    history: pd.DataFrame,
) -> UserBatch:
    """A UserBatch whose history is each rater's current interactions, mapped to model indices."""
    explicit = loaded.model.predicts_ratings
    frame = history.rename(columns={"rater_id": "user_id"}).assign(
        user_id=lambda f: f["user_id"].astype(str),
        item_id=lambda f: f["item_id"].astype(str),
        timestamp=0,
    )
    signalled = signal.apply(frame, explicit=explicit) if len(frame) else frame
    row_of = {str(r): i for i, r in enumerate(rater_ids)}
    rows = signalled["user_id"].map(row_of).to_numpy(dtype=np.int64)
    cols = loaded.items.indices(signalled["item_id"])
    known = cols >= 0
    matrix = sp.csr_matrix(
        (
            np.ones(int(known.sum()), dtype=np.float32)
            if not explicit
            else signalled["value"].to_numpy(dtype=np.float32)[known],
            (rows[known], cols[known]),
        ),
        shape=(len(rater_ids), len(loaded.items)),
    )
    ordered = frame.assign(col=loaded.items.indices(frame["item_id"]))
    ordered = ordered[ordered["col"] >= 0]
    by_rater = {
        key: group.to_numpy(dtype=np.int64) for key, group in ordered.groupby("user_id")["col"]
    }
    empty = np.empty(0, dtype=np.int64)
    sequences = [by_rater.get(str(r), empty) for r in rater_ids]
    return UserBatch(
        user_idx=np.asarray(user_idx, dtype=np.int64), history=matrix, sequences=sequences
    )


def rater_batch_from_training(
    loaded: LoadedModel, user_idx: np.ndarray, rater_ids: np.ndarray, run: TrainingRun | None = None
) -> UserBatch:
    """A batch of known raters with their current interactions (used by the precompute job)."""
    signal = Signal.from_dict(run.signal) if run is not None else Signal()
    return _batch(loaded, signal, user_idx, rater_ids, _history_frame(rater_ids))


def recommend_for_rater(rater: Rater, n: int = 10) -> RecommendationList:
    """The rater's top-``n`` unrated items from the active run, or popular items as fallback."""
    run = active_run()
    rated = set(Interaction.objects.filter(rater=rater).values_list("item_id", flat=True))
    if run is None:
        return _popular(rated, n, "No model is active yet: the most popular items.", None)
    if not rated:
        return _popular(rated, n, "You have no ratings yet: the most popular items.", run.pk)
    snapshot = _fresh_snapshot(run, rater)
    if snapshot is not None:
        pairs = [
            (i, s)
            for i, s in zip(snapshot.item_ids, snapshot.scores, strict=True)
            if i not in rated
        ][:n]
        if len(pairs) == n:
            return _result(
                pairs,
                "precomputed",
                f"Precomputed by run {run.pk} ({run.algorithm}).",
                run,
                len(rated),
            )
    return _score_now(run, rater, n, len(rated))


def _fresh_snapshot(run: TrainingRun, rater: Rater) -> RecommendationSnapshot | None:
    snapshot = RecommendationSnapshot.objects.filter(run=run, rater=rater).first()
    if snapshot is None:
        return None
    latest = Interaction.objects.filter(rater=rater).aggregate(latest=Max("occurred_at"))["latest"]
    return snapshot if latest is None or latest <= snapshot.computed_at else None


def _score_now(run: TrainingRun, rater: Rater, n: int, n_rated: int) -> RecommendationList:
    loaded = loaded_model(run)
    user_idx = loaded.users.index_of(str(rater.pk))
    batch = _batch(
        loaded,
        Signal.from_dict(run.signal),
        np.array([user_idx]),
        np.array([rater.pk]),
        _history_frame(np.array([rater.pk])),
    )
    top_idx, top_scores = loaded.model.recommend(batch, n)
    pairs = [
        (int(i), float(s))
        for i, s in zip(loaded.items.ids(top_idx[0]), top_scores[0], strict=True)
        if np.isfinite(s)
    ]
    return _result(
        pairs,
        "folded-in",
        f"Scored now by run {run.pk} ({run.algorithm}) with your latest ratings.",
        run,
        n_rated,
    )


def _result(
    pairs: list[tuple[int, float]], strategy: str, explanation: str, run: TrainingRun, n_rated: int
) -> RecommendationList:
    items = Item.objects.in_bulk([pk for pk, _ in pairs])
    reason = f"Matches your {n_rated} rating{'s' if n_rated != 1 else ''} ({run.algorithm})"
    return RecommendationList(
        [Recommendation(items[pk], score, reason) for pk, score in pairs if pk in items],
        strategy,
        explanation,
        run.pk,
    )


def _popular(rated: set[int], n: int, explanation: str, run_id: int | None) -> RecommendationList:
    counts = (
        Interaction.objects.exclude(item_id__in=rated)
        .values("item_id")
        .annotate(n=Count("id"))
        .order_by("-n", "item_id")[:n]
    )
    pairs = [(row["item_id"], float(row["n"])) for row in counts]
    items = Item.objects.in_bulk([pk for pk, _ in pairs])
    return RecommendationList(
        [Recommendation(items[pk], score, f"Popular: {int(score)} raters") for pk, score in pairs],
        "popularity",
        explanation,
        run_id,
    )
