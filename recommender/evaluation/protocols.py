"""Evaluation protocols: score a fitted model on held-out data and return named figures.

P1 (:func:`evaluate_ranking`): for each test user the candidates are every item of the training
data minus the user's training items; the model's top ``k`` is compared with the user's test
items. Test items unknown to the training data cannot be recommended but stay in ``|T_u|``.
Test users unknown to the training data are skipped (and logged): no protocol in
``shared/EVALUATION.md`` has them.

Cold and warm raters: every ranking figure is also reported for two groups, ``cold_*`` (users
with fewer than ``cold_threshold`` training interactions) and ``warm_*`` (the rest), with
``cold_users``/``warm_users`` counts. The default threshold, 20, is MovieLens' minimum number
of ratings per rater, so only raters who have not reached it yet are cold; in P1 on ML-100K
(15–19 training ratings) that is 137 of the 943 test users. A group with no users reports only
its count, so every value in the result is a finite float (it is stored as JSON).

P2 (:func:`evaluate_rating`): RMSE, MAE and like/dislike accuracy of clipped predictions.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recommender.algorithms.base import Recommender, ValidationData
from recommender.data import Interactions, UserBatch
from recommender.evaluation import metrics

logger = logging.getLogger(__name__)

DEFAULT_COLD_THRESHOLD = 20
ItemFeatures = np.ndarray | sp.spmatrix | pd.DataFrame


@dataclass(frozen=True)
class RankingTargets:
    """Test users (as training indices) and their relevant items.

    Attributes:
        user_idx: int64, shape (u,), users known to the training data.
        items: u int64 arrays. Items unknown to training are numbered from ``n_items`` up, so
            they are never hit but still count in ``|T_u|``.
        n_catalog: catalogue size for coverage: training items plus unknown test items.
    """

    user_idx: np.ndarray
    items: list[np.ndarray]
    n_catalog: int


def ranking_targets(train: Interactions, test: pd.DataFrame) -> RankingTargets:
    """Map a test frame (``user_id``, ``item_id``) onto the training vocabularies."""
    user_idx = train.users.indices(test["user_id"])
    item_ids = test["item_id"].astype(str).to_numpy()
    item_idx = train.items.indices(item_ids)
    unknown = item_idx < 0
    # Each unknown item gets one fresh index past the catalogue, shared by all its test users.
    item_idx[unknown] = train.n_items + pd.factorize(item_ids[unknown])[0]
    skipped = user_idx < 0
    if skipped.any():
        logger.warning("skipping %d test rows of users unknown to train", int(skipped.sum()))
    pairs = pd.DataFrame({"user": user_idx[~skipped], "item": item_idx[~skipped]})
    pairs = pairs.drop_duplicates().sort_values(["user", "item"])
    users, starts = np.unique(pairs["user"].to_numpy(), return_index=True)
    items = np.split(pairs["item"].to_numpy(), starts[1:])
    return RankingTargets(users, items, train.n_items + int(len(np.unique(item_ids[unknown]))))


def _as_targets(train: Interactions, test: pd.DataFrame | RankingTargets) -> RankingTargets:
    return test if isinstance(test, RankingTargets) else ranking_targets(train, test)


def user_batches(train: Interactions, user_idx: np.ndarray, batch_size: int) -> Iterator[UserBatch]:
    """Batches of ``user_idx`` with their training history and sequences (built once)."""
    history = train.matrix(binary=True)
    sequences = train.sequences()
    for start in range(0, len(user_idx), batch_size):
        users = user_idx[start : start + batch_size]
        yield UserBatch(users, history[users], [sequences[u] for u in users])


def recommend_top_k(model: Recommender, batch: UserBatch, k: int) -> np.ndarray:
    """The model's top-k item indices, int64 (b, k), with -1 where only excluded items remain."""
    idx, scores = model.recommend(batch, k)
    return np.where(np.isneginf(scores), -1, idx).astype(np.int64)


def per_user_ranking(
    model: Recommender,
    train: Interactions,
    test: pd.DataFrame | RankingTargets,
    k: int = 10,
    item_features: ItemFeatures | None = None,
    batch_size: int = 1024,
    cold_threshold: int = DEFAULT_COLD_THRESHOLD,
    with_auc: bool = True,
) -> pd.DataFrame:
    """One row per evaluated test user, for paired comparisons between models.

    Columns: ``user_id``, ``n_train``, ``n_test``, ``cold`` and one column per metric, named as
    in :func:`evaluate_ranking` (``ndcg_at_10``, ``map``, ``auc``, ...). ``auc`` needs a second
    full scoring pass; ``with_auc=False`` skips it.
    """
    frame, _ = _rank_and_measure(
        model, train, _as_targets(train, test), k, item_features, batch_size, with_auc
    )
    frame.insert(3, "cold", frame["n_train"] < cold_threshold)
    return frame


def evaluate_ranking(
    model: Recommender,
    train: Interactions,
    test: pd.DataFrame | RankingTargets,
    k: int = 10,
    item_features: ItemFeatures | None = None,
    batch_size: int = 1024,
    cold_threshold: int = DEFAULT_COLD_THRESHOLD,
    with_auc: bool = True,
) -> dict[str, float]:
    """P1 figures averaged over test users, overall and for cold and warm raters.

    Args:
        model: a fitted recommender whose indices follow ``train``'s vocabularies.
        train: the training interactions (history to exclude, popularity for novelty).
        test: a frame with ``user_id``, ``item_id`` or prepared :class:`RankingTargets`.
        k: list length.
        item_features: (n_items, f) array/sparse matrix aligned with ``train.items``, or a
            frame indexed by item id; enables ``diversity_at_{k}``.
        batch_size: users scored per call to the model.
        cold_threshold: users with fewer training interactions than this are "cold".
        with_auc: compute the full-ranking AUC (one more scoring pass).

    Returns:
        ``precision_at_{k}``, ``recall_at_{k}``, ``f1_at_{k}``, ``ndcg_at_{k}``, ``map``,
        ``map_at_{k}``, ``hit_rate_at_{k}``, ``mrr_at_{k}``, ``auc``, ``coverage_at_{k}``,
        ``novelty_at_{k}``, ``popularity_bias_at_{k}``, ``diversity_at_{k}``, ``users``; the same
        with ``cold_`` and ``warm_`` prefixes.
    """
    targets = _as_targets(train, test)
    frame, top_k = _rank_and_measure(model, train, targets, k, item_features, batch_size, with_auc)
    cold = (frame["n_train"] < cold_threshold).to_numpy()
    result = _summarise(frame, top_k, targets.n_catalog, k, "")
    result |= _summarise(frame[cold], top_k[cold], targets.n_catalog, k, "cold_")
    result |= _summarise(frame[~cold], top_k[~cold], targets.n_catalog, k, "warm_")
    return result


def _rank_and_measure(
    model: Recommender,
    train: Interactions,
    targets: RankingTargets,
    k: int,
    item_features: ItemFeatures | None,
    batch_size: int,
    with_auc: bool,
) -> tuple[pd.DataFrame, np.ndarray]:
    top_k, auc = _recommend_all(model, train, targets, k, batch_size, with_auc)
    popularity = train.item_popularity()
    columns: dict[str, np.ndarray] = {
        "user_id": np.asarray(train.users.ids(targets.user_idx), dtype=object),
        "n_train": np.diff(train.matrix(binary=True).indptr)[targets.user_idx],
        "n_test": metrics.target_counts(targets.items),
    }
    for name, values in metrics.ranking_metrics(top_k, targets.items, k).items():
        columns[_metric_key(name, k)] = values
    if auc is not None:
        columns["auc"] = auc
    columns[f"novelty_at_{k}"] = metrics.novelty(top_k, popularity)
    columns[f"popularity_bias_at_{k}"] = metrics.popularity_bias(top_k, popularity)
    if item_features is not None:
        features = _aligned_features(item_features, train)
        columns[f"diversity_at_{k}"] = metrics.intra_list_diversity(top_k, features)
    return pd.DataFrame(columns), top_k


def _recommend_all(
    model: Recommender,
    train: Interactions,
    targets: RankingTargets,
    k: int,
    batch_size: int,
    with_auc: bool,
) -> tuple[np.ndarray, np.ndarray | None]:
    lists, aucs = [], []
    start = 0
    for batch in user_batches(train, targets.user_idx, batch_size):
        lists.append(recommend_top_k(model, batch, k))
        if with_auc:
            batch_targets = targets.items[start : start + len(batch)]
            aucs.append(metrics.auc(model.score(batch), batch_targets, exclude=batch.history))
        start += len(batch)
    top_k = np.concatenate(lists) if lists else np.empty((0, k), dtype=np.int64)
    if not with_auc:
        return top_k, None
    return top_k, np.concatenate(aucs) if aucs else np.empty(0)


def _metric_key(name: str, k: int) -> str:
    if name == "map":
        return "map"
    if name == "map_at_k":
        return f"map_at_{k}"
    return f"{name}_at_{k}"


def _aligned_features(features: ItemFeatures, train: Interactions) -> np.ndarray | sp.spmatrix:
    """Features as rows in ``train.items`` order; a frame is reindexed by item id (missing: 0)."""
    if isinstance(features, pd.DataFrame):
        frame = features.copy()
        frame.index = frame.index.astype(str)
        return frame.reindex(train.items.ids(), fill_value=0).to_numpy(dtype=np.float64)
    if features.shape[0] != train.n_items:
        raise ValueError(f"item_features has {features.shape[0]} rows for {train.n_items} items")
    return features


def _summarise(
    frame: pd.DataFrame, top_k: np.ndarray, n_catalog: int, k: int, prefix: str
) -> dict[str, float]:
    result = {f"{prefix}users": float(len(frame))}
    if len(frame) == 0:
        return result
    for column in frame.columns.drop(["user_id", "n_train", "n_test", "cold"], errors="ignore"):
        values = frame[column].to_numpy(dtype=np.float64)
        values = values[~np.isnan(values)]
        # AUC and diversity are undefined for some users; they are averaged over the rest.
        if values.size:
            result[f"{prefix}{column}"] = float(values.mean())
    result[f"{prefix}coverage_at_{k}"] = metrics.catalog_coverage(top_k, n_catalog)
    return result


def validation_metrics(
    model: Recommender, validation: ValidationData, k: int = 10
) -> dict[str, float]:
    """``val_ndcg_at_{k}`` and ``val_hit_rate_at_{k}`` for early stopping during training."""
    top_k = recommend_top_k(model, validation.batch, k)
    values = metrics.ranking_metrics(top_k, validation.targets, k)
    return {
        f"val_ndcg_at_{k}": float(values["ndcg"].mean()) if len(top_k) else 0.0,
        f"val_hit_rate_at_{k}": float(values["hit_rate"].mean()) if len(top_k) else 0.0,
    }


def evaluate_rating(
    model: Recommender,
    train: Interactions,
    test: pd.DataFrame,
    like_threshold: float = 3.5,
) -> dict[str, float]:
    """P2: RMSE, MAE and like/dislike accuracy of the model's rating predictions on ``test``.

    Predictions are clipped to the range of ratings seen in ``train``. A pair the model cannot
    score falls back to the best mean available: the user's training mean when only the item is
    unknown, the item's training mean when only the user is unknown, the global mean when both
    are; ``fallback_predictions`` counts them.
    """
    predictions, known = _rating_predictions(model, train, test)
    truth = test["value"].to_numpy(dtype=np.float64)
    return {
        "rmse": metrics.rmse(predictions, truth),
        "mae": metrics.mae(predictions, truth),
        "like_accuracy": metrics.like_accuracy(predictions, truth, like_threshold),
        "fallback_predictions": float((~known).sum()),
    }


def rating_errors(model: Recommender, train: Interactions, test: pd.DataFrame) -> pd.DataFrame:
    """P2 per test rating: ``user_id`` and ``error`` (prediction minus truth), predicted as in
    :func:`evaluate_rating`; ``significance.per_user_errors`` turns them into per-rater figures."""
    predictions, _ = _rating_predictions(model, train, test)
    return pd.DataFrame(
        {
            "user_id": test["user_id"].to_numpy(),
            "error": predictions - test["value"].to_numpy(dtype=np.float64),
        }
    )


def _rating_predictions(
    model: Recommender, train: Interactions, test: pd.DataFrame
) -> tuple[np.ndarray, np.ndarray]:
    """Clipped predictions for ``test`` (with fallbacks) and which pairs the model scored."""
    if not model.predicts_ratings:
        raise ValueError(f"{model.name} does not predict ratings")
    user_idx = train.users.indices(test["user_id"])
    item_idx = train.items.indices(test["item_id"])
    known = (user_idx >= 0) & (item_idx >= 0)
    predictions = _fallback_predictions(train, user_idx, item_idx)
    if known.any():
        predictions[known] = model.predict(user_idx[known], item_idx[known])
    predictions = np.clip(predictions, float(train.value.min()), float(train.value.max()))
    return predictions, known


def _fallback_predictions(
    train: Interactions, user_idx: np.ndarray, item_idx: np.ndarray
) -> np.ndarray:
    values = train.value.astype(np.float64)
    global_mean = float(values.mean())
    user_mean = _group_means(train.user_idx, values, train.n_users, global_mean)
    item_mean = _group_means(train.item_idx, values, train.n_items, global_mean)
    predictions = np.full(len(user_idx), global_mean)
    predictions = np.where(item_idx >= 0, item_mean[np.maximum(item_idx, 0)], predictions)
    return np.where(user_idx >= 0, user_mean[np.maximum(user_idx, 0)], predictions)


def _group_means(index: np.ndarray, values: np.ndarray, size: int, default: float) -> np.ndarray:
    sums = np.bincount(index, weights=values, minlength=size)
    counts = np.bincount(index, minlength=size)
    return np.where(counts > 0, sums / np.maximum(counts, 1), default)
