"""Ranking, beyond-accuracy and rating metrics, as defined in ``shared/EVALUATION.md`` (P1 step 4).

Ranking metrics take the recommended lists and the relevant items and return one value per
user, so that two models can be compared with a paired test over users; the protocol averages
them. Shapes used throughout:

- ``top_k``: int array, shape (b, k), item indices best first. ``-1`` pads a list that has fewer
  than ``k`` items (a user with fewer candidates than ``k``); padding never counts as a hit.
- ``targets``: a sequence of ``b`` int arrays, the relevant item indices of each user
  (duplicates are ignored). An index that ``top_k`` can never hold (for example a test item
  unknown to the training data, mapped past the catalogue) still counts in ``|T_u|``.

A user with no targets gets 0 for the ranking metrics (the protocols never evaluate such users).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp
from scipy.stats import rankdata

Targets = Sequence[np.ndarray]

RANKING_METRICS = ("precision", "recall", "f1", "ndcg", "map", "map_at_k", "hit_rate", "mrr")
"""Names returned by :func:`ranking_metrics`; the protocol adds the ``_at_{k}`` suffixes."""


# --- relevance of the recommended lists ----------------------------------------------------------


def _flatten(targets: Targets) -> tuple[np.ndarray, np.ndarray]:
    """Row number and item of every target, as two int64 arrays."""
    lengths = np.fromiter((len(t) for t in targets), dtype=np.int64, count=len(targets))
    flat = np.concatenate([np.asarray(t, dtype=np.int64) for t in targets] + [np.empty(0, int)])
    return np.repeat(np.arange(len(targets), dtype=np.int64), lengths), flat


def hit_matrix(top_k: np.ndarray, targets: Targets) -> np.ndarray:
    """bool, shape (b, k): whether each recommended item is one of the user's targets."""
    top_k = np.asarray(top_k, dtype=np.int64)
    b = top_k.shape[0]
    if len(targets) != b:
        raise ValueError(f"{len(targets)} target arrays for {b} recommendation lists")
    rows, flat = _flatten(targets)
    rows, flat = rows[flat >= 0], flat[flat >= 0]
    # Encode (user row, item) pairs as one int64 so a single vectorised isin finds every hit.
    width = int(max(top_k.max(initial=-1), flat.max(initial=-1))) + 1
    target_keys = rows * width + flat
    valid = top_k >= 0
    list_keys = np.arange(b, dtype=np.int64)[:, None] * width + top_k
    return valid & np.isin(list_keys, target_keys)


def target_counts(targets: Targets) -> np.ndarray:
    """int64, shape (b,): ``|T_u|``, the number of distinct targets of each user."""
    rows, flat = _flatten(targets)
    if not len(rows):
        return np.zeros(len(targets), dtype=np.int64)
    order = np.lexsort((flat, rows))
    rows, flat = rows[order], flat[order]
    first = np.r_[True, (rows[1:] != rows[:-1]) | (flat[1:] != flat[:-1])]
    return np.bincount(rows[first], minlength=len(targets)).astype(np.int64)


def _cut(top_k: np.ndarray, k: int | None) -> np.ndarray:
    """The first k columns; a shorter list is padded with -1 so that k stays the cut-off."""
    top_k = np.asarray(top_k, dtype=np.int64)
    if top_k.ndim != 2:
        raise ValueError(f"top_k must have shape (b, k), got {top_k.shape}")
    if k is None:
        return top_k
    if k < 1:
        raise ValueError(f"k must be positive, got {k}")
    missing = k - top_k.shape[1]
    if missing > 0:
        return np.pad(top_k, ((0, 0), (0, missing)), constant_values=-1)
    return top_k[:, :k]


def _safe_divide(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    out = np.zeros(np.shape(numerator), dtype=np.float64)
    np.divide(numerator, denominator, out=out, where=np.asarray(denominator) > 0)
    return out


# --- per-user ranking metrics from a hit matrix -------------------------------------------------


def _precision(hits: np.ndarray, k: int) -> np.ndarray:
    # Divided by k even when a list is shorter, as Recommenders does.
    return hits.sum(axis=1) / k


def _recall(hits: np.ndarray, n_targets: np.ndarray) -> np.ndarray:
    return _safe_divide(hits.sum(axis=1), n_targets)


def _f1(precision: np.ndarray, recall: np.ndarray) -> np.ndarray:
    return _safe_divide(2.0 * precision * recall, precision + recall)


def _ndcg(hits: np.ndarray, n_targets: np.ndarray) -> np.ndarray:
    k = hits.shape[1]
    discounts = 1.0 / np.log2(np.arange(2, k + 2))
    dcg = hits @ discounts
    # Ideal DCG puts min(|T_u|, k) hits at the top: a prefix sum of the discounts.
    ideal = np.concatenate([[0.0], np.cumsum(discounts)])[np.minimum(n_targets, k)]
    return _safe_divide(dcg, ideal)


def _precision_sum(hits: np.ndarray) -> np.ndarray:
    """Σ over hit ranks i of (hits in the first i) / i."""
    ranks = np.arange(1, hits.shape[1] + 1)
    return (np.cumsum(hits, axis=1) / ranks * hits).sum(axis=1)


def _hit_rate(hits: np.ndarray) -> np.ndarray:
    return hits.any(axis=1).astype(np.float64)


def _reciprocal_rank(hits: np.ndarray) -> np.ndarray:
    first = hits.argmax(axis=1)
    return np.where(hits.any(axis=1), 1.0 / (first + 1), 0.0)


def ranking_metrics(
    top_k: np.ndarray, targets: Targets, k: int | None = None
) -> dict[str, np.ndarray]:
    """Every accuracy metric of :data:`RANKING_METRICS` per user, sharing one hit matrix.

    Args:
        top_k: int, shape (b, >=k), recommended item indices best first (-1 pads).
        targets: b int arrays of relevant item indices.
        k: the cut-off; defaults to ``top_k.shape[1]``.

    Returns:
        name -> float64 array of shape (b,). ``map`` normalises by ``|T_u|`` (Recommenders'
        "MAP"), ``map_at_k`` by ``min(|T_u|, k)``.
    """
    top_k = _cut(top_k, k)
    k = top_k.shape[1]
    hits = hit_matrix(top_k, targets)
    n_targets = target_counts(targets)
    precision = _precision(hits, k)
    recall = _recall(hits, n_targets)
    precision_sum = _precision_sum(hits)
    return {
        "precision": precision,
        "recall": recall,
        "f1": _f1(precision, recall),
        "ndcg": _ndcg(hits, n_targets),
        "map": _safe_divide(precision_sum, n_targets),
        "map_at_k": _safe_divide(precision_sum, np.minimum(n_targets, k)),
        "hit_rate": _hit_rate(hits),
        "mrr": _reciprocal_rank(hits),
    }


# --- the same metrics one at a time --------------------------------------------------------------


def precision_at_k(top_k: np.ndarray, targets: Targets, k: int | None = None) -> np.ndarray:
    """Per user: hits in the first k / k."""
    top_k = _cut(top_k, k)
    return _precision(hit_matrix(top_k, targets), top_k.shape[1])


def recall_at_k(top_k: np.ndarray, targets: Targets, k: int | None = None) -> np.ndarray:
    """Per user: hits in the first k / |T_u|."""
    return _recall(hit_matrix(_cut(top_k, k), targets), target_counts(targets))


def f1_at_k(top_k: np.ndarray, targets: Targets, k: int | None = None) -> np.ndarray:
    """Per user: harmonic mean of precision@k and recall@k (0 when both are 0)."""
    return _f1(precision_at_k(top_k, targets, k), recall_at_k(top_k, targets, k))


def ndcg_at_k(top_k: np.ndarray, targets: Targets, k: int | None = None) -> np.ndarray:
    """Per user: binary-gain DCG@k over the ideal DCG of min(|T_u|, k) hits."""
    return _ndcg(hit_matrix(_cut(top_k, k), targets), target_counts(targets))


def average_precision(top_k: np.ndarray, targets: Targets, k: int | None = None) -> np.ndarray:
    """Per user: Σ over hit ranks i of precision@i, over |T_u| (averaged, Recommenders' MAP)."""
    return _safe_divide(_precision_sum(hit_matrix(_cut(top_k, k), targets)), target_counts(targets))


def average_precision_at_k(top_k: np.ndarray, targets: Targets, k: int | None = None) -> np.ndarray:
    """Per user: Σ over hit ranks i of precision@i, over min(|T_u|, k) (averaged, MAP@k)."""
    top_k = _cut(top_k, k)
    normaliser = np.minimum(target_counts(targets), top_k.shape[1])
    return _safe_divide(_precision_sum(hit_matrix(top_k, targets)), normaliser)


def hit_rate_at_k(top_k: np.ndarray, targets: Targets, k: int | None = None) -> np.ndarray:
    """Per user: 1.0 when at least one of the first k items is relevant."""
    return _hit_rate(hit_matrix(_cut(top_k, k), targets))


def mrr_at_k(top_k: np.ndarray, targets: Targets, k: int | None = None) -> np.ndarray:
    """Per user: 1 / rank of the first hit within k, 0 when there is none."""
    return _reciprocal_rank(hit_matrix(_cut(top_k, k), targets))


# --- full-ranking metric -------------------------------------------------------------------------


def auc(
    scores: np.ndarray, targets: Targets, exclude: sp.spmatrix | np.ndarray | None = None
) -> np.ndarray:
    """Per-user ROC AUC of the full score vector: the share of (relevant, non-relevant) candidate
    pairs ranked the right way round, ties counting one half.

    Args:
        scores: float, shape (b, n_items).
        targets: b int arrays; indices outside ``0..n_items-1`` are ignored (they have no score).
        exclude: (b, n_items) sparse matrix or bool array of non-candidates (the user's history);
            they are neither relevant nor non-relevant.

    Returns:
        float64, shape (b,); NaN for a user without a scorable target or without a negative.
    """
    b, n_items = scores.shape
    excluded = np.zeros((b, n_items), dtype=bool)
    if exclude is not None:
        excluded = exclude.toarray() != 0 if sp.issparse(exclude) else np.asarray(exclude, bool)
    relevant = _target_mask(targets, b, n_items) & ~excluded
    # Non-candidates go to -inf, strictly below every candidate (non-finite scores are clamped),
    # so a candidate's rank among candidates is its overall rank minus the excluded count.
    lowest = np.finfo(np.float64).min
    values = np.where(np.isfinite(scores), scores, lowest).astype(np.float64)
    values[excluded] = -np.inf
    ranks = rankdata(values, axis=1) - excluded.sum(axis=1, keepdims=True)
    n_pos = relevant.sum(axis=1)
    n_neg = (~excluded).sum(axis=1) - n_pos
    mann_whitney = (ranks * relevant).sum(axis=1) - n_pos * (n_pos + 1) / 2.0
    with np.errstate(invalid="ignore", divide="ignore"):
        result = mann_whitney / (n_pos * n_neg)
    return np.where((n_pos > 0) & (n_neg > 0), result, np.nan)


def _target_mask(targets: Targets, b: int, n_items: int) -> np.ndarray:
    mask = np.zeros((b, n_items), dtype=bool)
    for row, items in enumerate(targets):
        items = np.asarray(items, dtype=np.int64)
        mask[row, items[(items >= 0) & (items < n_items)]] = True
    return mask


# --- beyond accuracy -----------------------------------------------------------------------------


def catalog_coverage(top_k: np.ndarray, n_items: int) -> float:
    """Distinct recommended items over the catalogue size (the P1 catalogue is every item)."""
    top_k = np.asarray(top_k)
    return len(np.unique(top_k[top_k >= 0])) / n_items if n_items else 0.0


def _per_user_mean(values: np.ndarray, valid: np.ndarray) -> np.ndarray:
    counts = valid.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, (values * valid).sum(axis=1) / counts, np.nan)


def novelty(top_k: np.ndarray, item_counts: np.ndarray) -> np.ndarray:
    """Per user: mean of ``-log2(p_i)`` over the list, ``p_i`` = item i's share of all train
    interactions (Recommenders' definition). An item never seen in train counts as seen once.

    Args:
        top_k: int, shape (b, k).
        item_counts: float, shape (n_items,), train interactions per item.
    """
    top_k = np.asarray(top_k, dtype=np.int64)
    counts = np.asarray(item_counts, dtype=np.float64)
    share = np.maximum(counts, 1.0) / max(counts.sum(), 1.0)
    valid = top_k >= 0
    return _per_user_mean(-np.log2(share[np.where(valid, top_k, 0)]), valid)


def popularity_bias(top_k: np.ndarray, item_counts: np.ndarray) -> np.ndarray:
    """Per user: mean train popularity (interaction count) of the recommended items."""
    top_k = np.asarray(top_k, dtype=np.int64)
    valid = top_k >= 0
    counts = np.asarray(item_counts, dtype=np.float64)
    return _per_user_mean(counts[np.where(valid, top_k, 0)], valid)


def intra_list_diversity(top_k: np.ndarray, features: np.ndarray | sp.spmatrix) -> np.ndarray:
    """Per user: mean cosine distance over all pairs of recommended items.

    Args:
        top_k: int, shape (b, k).
        features: shape (n_items, f), e.g. genre flags. An all-zero row is at distance 1 from
            everything.

    Returns:
        float64, shape (b,); NaN for a list with fewer than two items.
    """
    top_k = np.asarray(top_k, dtype=np.int64)
    dense = features.toarray() if sp.issparse(features) else np.asarray(features)
    dense = dense.astype(np.float64)
    norms = np.linalg.norm(dense, axis=1, keepdims=True)
    unit = _safe_divide(dense, np.broadcast_to(norms, dense.shape))
    valid = top_k >= 0
    vectors = unit[np.where(valid, top_k, 0)] * valid[..., None]
    similarity = np.einsum("bif,bjf->bij", vectors, vectors)
    pair = valid[:, :, None] & valid[:, None, :] & ~np.eye(top_k.shape[1], dtype=bool)
    n_pairs = pair.sum(axis=(1, 2))
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = ((1.0 - similarity) * pair).sum(axis=(1, 2)) / n_pairs
    return np.where(n_pairs > 0, mean, np.nan)


# --- rating prediction ---------------------------------------------------------------------------


def rmse(predictions: np.ndarray, truth: np.ndarray) -> float:
    """Root mean squared error."""
    diff = np.asarray(predictions, dtype=np.float64) - np.asarray(truth, dtype=np.float64)
    return float(np.sqrt(np.mean(diff**2)))


def mae(predictions: np.ndarray, truth: np.ndarray) -> float:
    """Mean absolute error."""
    diff = np.asarray(predictions, dtype=np.float64) - np.asarray(truth, dtype=np.float64)
    return float(np.mean(np.abs(diff)))


def like_accuracy(predictions: np.ndarray, truth: np.ndarray, threshold: float = 3.5) -> float:
    """Share of ratings whose like/dislike side (value >= threshold) the prediction gets right.

    3.5 is the midpoint of a 1–5 scale, so integer ratings 4 and 5 count as likes.
    """
    liked = np.asarray(truth, dtype=np.float64) >= threshold
    predicted = np.asarray(predictions, dtype=np.float64) >= threshold
    return float(np.mean(liked == predicted))
