"""The cold-start protocols of ``shared/EVALUATION.md``: new items and new raters.

New items (:func:`new_items_split`, :func:`evaluate_new_items`): a share of the catalogue is held
out entirely: ``np.random.default_rng(seed).permutation(sorted item ids)[:n]`` with
``n = int(fraction * catalogue size)`` (168 of ML-100K's 1,682). Those items keep only their
metadata; every interaction on them is test. The candidates are the held-out items only, and the
users evaluated are those who interacted with them (924 on ML-100K). The model is trained on
:func:`new_items_interactions`, whose item vocabulary is the *whole catalogue* (the items of the
interactions plus every item of the feature frame), so a cold item has an index but no rows:
that is how the vocabulary of items is extended, and a content model scores such indices from
their features alone.

Ties: a cold item's index follows its id, and on ML-100K ids correlate with popularity
(Spearman −0.81), so breaking equal scores by index would let the id leak into the ranking (a
constant scorer would look better than random). Every scorer here is ranked with ties broken by
a seeded random order drawn afresh for each user instead, so a constant scorer scores the
expected value of a random ranking up to sampling noise.

New raters (:func:`new_raters_split`, :func:`evaluate_new_raters`): a share of raters is held out
entirely (same permutation rule over sorted rater ids). Each held-out rater's interactions are
ordered by time (ties by file order); for each ``k`` in ``reveal`` the first ``k`` become the
history the model may condition on (``UserBatch.user_idx == -1``, attributes in
``UserBatch.user_features``). The test items are the same for every ``k``: everything after
the first ``max(reveal)`` interactions, so the figures for 0, 1, 3 and 5 revealed items are
comparable. Candidates are every training item minus the revealed history.

Reference scorers: :func:`expected_random` (the expected value of a uniformly random ranking),
:class:`GenreProfile` (cosine between the user's mean genre vector in train and each item's genre
flags) and popularity (``recommender.algorithms.popularity``).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from typing import Protocol

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.special import gammaln

from recommender.data import Interactions, UserBatch, Vocabulary, interactions_from_frame
from recommender.evaluation import metrics

logger = logging.getLogger(__name__)

DEFAULT_REVEAL = (0, 1, 3, 5)
REPORTED = ("ndcg", "hit_rate", "precision", "recall", "mrr", "map_at_k")


class Scorer(Protocol):
    """Anything that scores a batch of users over the training item vocabulary."""

    def score(self, batch: UserBatch) -> np.ndarray:
        """float32 scores, shape (len(batch), n_items)."""
        ...


# --- new items ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class NewItemsSplit:
    """Interactions on warm items for training, on held-out items for testing.

    Attributes:
        train: rows whose item is not held out (same columns as the input frame).
        test: rows on held-out items.
        held_out: the held-out item ids, in permutation order.
        catalogue: every item id (interactions ∪ feature frame), in vocabulary order.
        item_features: the feature frame, index as str.
    """

    train: pd.DataFrame
    test: pd.DataFrame
    held_out: list[str]
    catalogue: Vocabulary
    item_features: pd.DataFrame | None


def _catalogue(ids: Iterable[object]) -> Vocabulary:
    return Vocabulary.from_values(ids)


def _with_str_index(frame: pd.DataFrame | None) -> pd.DataFrame | None:
    if frame is None:
        return None
    frame = frame.copy()
    frame.index = frame.index.astype(str)
    return frame


def held_out_ids(ids: Iterable[object], fraction: float, seed: int) -> list[str]:
    """``default_rng(seed).permutation(sorted ids)[:int(fraction * len)]`` (numeric-aware sort)."""
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"fraction must be in (0, 1), got {fraction}")
    ordered = np.array(_catalogue(ids).ids(), dtype=object)
    count = int(fraction * len(ordered))
    return [str(i) for i in np.random.default_rng(seed).permutation(ordered)[:count]]


def new_items_split(
    frame: pd.DataFrame,
    items_frame: pd.DataFrame | None = None,
    fraction: float = 0.1,
    seed: int = 42,
) -> NewItemsSplit:
    """Hold out ``fraction`` of the catalogue (items of ``items_frame``, else of ``frame``).

    Args:
        frame: interactions with ``user_id``, ``item_id`` (and usually ``value``, ``timestamp``).
        items_frame: item metadata indexed by item id (``title``, ``genres``...).
        fraction: share of the catalogue held out, in (0, 1).
        seed: seeds ``np.random.default_rng``.
    """
    features = _with_str_index(items_frame)
    item_ids = frame["item_id"].astype(str)
    catalogue_ids = features.index if features is not None else item_ids.unique()
    held_out = held_out_ids(catalogue_ids, fraction, seed)
    catalogue = _catalogue([*catalogue_ids, *item_ids.unique()])
    is_test = item_ids.isin(held_out).to_numpy()
    return NewItemsSplit(frame[~is_test], frame[is_test], held_out, catalogue, features)


def new_items_interactions(split: NewItemsSplit) -> Interactions:
    """Training interactions over the whole catalogue, with the item features attached.

    The item vocabulary is ``split.catalogue``: the held-out items get indices with no rows.
    Users are those of the training rows.
    """
    data = interactions_from_frame(split.train, items=split.catalogue)
    return replace(data, item_features=split.item_features)


# --- new raters ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class NewRatersSplit:
    """Interactions of the remaining raters for training; the held-out raters in time order.

    Attributes:
        train: rows of raters who are not held out.
        held_out: rows of held-out raters with an extra int column ``position`` (0 = the
            rater's earliest interaction; ties by file order), sorted by rater then position.
        raters: the held-out rater ids, in permutation order.
        reveal: the history sizes to evaluate.
    """

    train: pd.DataFrame
    held_out: pd.DataFrame
    raters: list[str]
    reveal: tuple[int, ...]

    def revealed(self, count: int) -> pd.DataFrame:
        """The first ``count`` interactions of every held-out rater."""
        return self.held_out[self.held_out["position"] < count]

    def test(self) -> pd.DataFrame:
        """Every interaction after the first ``max(reveal)``: the same targets for every k."""
        return self.held_out[self.held_out["position"] >= max(self.reveal, default=0)]


def new_raters_split(
    frame: pd.DataFrame,
    fraction: float = 0.1,
    reveal: tuple[int, ...] = DEFAULT_REVEAL,
    seed: int = 42,
) -> NewRatersSplit:
    """Hold out ``fraction`` of the raters entirely; order their interactions by time."""
    if any(k < 0 for k in reveal):
        raise ValueError(f"reveal counts must be >= 0, got {reveal}")
    user_ids = frame["user_id"].astype(str)
    raters = held_out_ids(user_ids.unique(), fraction, seed)
    is_held = user_ids.isin(raters).to_numpy()
    held = frame[is_held].copy()
    held["user_id"] = held["user_id"].astype(str)
    times = held["timestamp"].to_numpy() if "timestamp" in held else np.zeros(len(held))
    order = np.lexsort((np.arange(len(held)), times, held["user_id"].to_numpy()))
    held = held.iloc[order]
    held["position"] = held.groupby("user_id", sort=False).cumcount().to_numpy()
    return NewRatersSplit(frame[~is_held], held, raters, tuple(reveal))


# --- scoring and measuring ----------------------------------------------------------------------


def _top_k(scores: np.ndarray, candidates: np.ndarray, tie: np.ndarray, k: int) -> np.ndarray:
    """Top-k item indices among ``candidates`` per row, ties broken by ``tie``; -1 pads.

    Args:
        scores: (b, n_items); -inf marks an excluded item.
        candidates: int64 (c,) item indices.
        tie: (b, c) secondary key, higher first.
    """
    sub = scores[:, candidates].astype(np.float64)
    order = np.lexsort((-tie, -sub), axis=1)[:, :k]
    top = candidates[order]
    excluded = np.isneginf(np.take_along_axis(sub, order, axis=1))
    return np.where(excluded, -1, top)


def _ranking(
    scorer: Scorer,
    batches: Iterator[UserBatch],
    candidates: np.ndarray,
    exclude_history: bool,
    k: int,
    seed: int,
) -> np.ndarray:
    lists = []
    # A fresh random order per user: one order shared by every user would put the same few
    # items first for a constant scorer, and its figures would swing with the seed.
    rng = np.random.default_rng(seed)
    for batch in batches:
        scores = np.array(scorer.score(batch), dtype=np.float32)
        tie = rng.random((len(batch), len(candidates)))
        if exclude_history:
            rows, cols = batch.history.nonzero()
            scores[rows, cols] = -np.inf
        lists.append(_top_k(scores, candidates, tie, k))
    return np.concatenate(lists) if lists else np.empty((0, k), dtype=np.int64)


def _summary(top_k: np.ndarray, targets: list[np.ndarray], k: int) -> dict[str, float]:
    values = metrics.ranking_metrics(top_k, targets, k)
    result = {_name(key, k): float(np.mean(values[key])) for key in REPORTED}
    result["users"] = float(len(targets))
    return result


def _name(key: str, k: int) -> str:
    return f"map_at_{k}" if key == "map_at_k" else f"{key}_at_{k}"


def _known_user_batches(
    train: Interactions, user_idx: np.ndarray, size: int
) -> Iterator[UserBatch]:
    history = train.matrix(binary=True)
    sequences = train.sequences()
    for start in range(0, len(user_idx), size):
        users = user_idx[start : start + size]
        yield UserBatch(users, history[users], [sequences[u] for u in users])


def _group_targets(user_idx: np.ndarray, item_idx: np.ndarray) -> tuple[np.ndarray, list]:
    pairs = pd.DataFrame({"user": user_idx, "item": item_idx}).drop_duplicates()
    pairs = pairs.sort_values(["user", "item"])
    users, starts = np.unique(pairs["user"].to_numpy(), return_index=True)
    return users, np.split(pairs["item"].to_numpy(), starts[1:])


def new_items_targets(
    train: Interactions, split: NewItemsSplit
) -> tuple[np.ndarray, list[np.ndarray], np.ndarray]:
    """(user_idx of evaluated users, their held-out item indices, candidate item indices)."""
    candidates = train.items.indices(split.held_out)
    if (candidates < 0).any():
        raise ValueError("held-out items are missing from the item vocabulary")
    user_idx = train.users.indices(split.test["user_id"].astype(str))
    item_idx = train.items.indices(split.test["item_id"].astype(str))
    known = user_idx >= 0
    if not known.all():
        logger.warning("new items: %d test rows of users without training rows", (~known).sum())
    users, targets = _group_targets(user_idx[known], item_idx[known])
    return users, targets, np.sort(candidates)


def evaluate_new_items(
    scorer: Scorer,
    train: Interactions,
    split: NewItemsSplit,
    k: int = 10,
    batch_size: int = 1024,
    seed: int = 42,
) -> dict[str, float]:
    """Rank the held-out items for every user who interacted with one.

    Args:
        scorer: fitted on ``train`` (e.g. from :func:`new_items_interactions`).
        train: training interactions whose item vocabulary contains the held-out items.
        split: from :func:`new_items_split`.
        k: list length.
        batch_size: users per ``score`` call.
        seed: seeds the random order that breaks ties.

    Returns:
        ``ndcg_at_{k}``, ``hit_rate_at_{k}``, ``precision_at_{k}``, ``recall_at_{k}``,
        ``mrr_at_{k}``, ``map_at_{k}``, ``users``, ``candidates``.
    """
    lists = rank_new_items(scorer, train, split, k, batch_size, seed)
    return {**_summary(lists.top_k, lists.targets, k), "candidates": float(lists.candidates)}


@dataclass(frozen=True)
class RankedLists:
    """Top-k lists and targets of the evaluated users, for per-user (paired) comparisons.

    Attributes:
        top_k: int64 (u, k) item indices, best first; -1 pads.
        targets: u int64 arrays of relevant item indices.
        candidates: how many items were ranked.
    """

    top_k: np.ndarray
    targets: list[np.ndarray]
    candidates: int

    def ndcg(self, k: int = 10) -> np.ndarray:
        """float64 (u,): NDCG@k per user."""
        return metrics.ndcg_at_k(self.top_k, self.targets, k)


def rank_new_items(
    scorer: Scorer,
    train: Interactions,
    split: NewItemsSplit,
    k: int = 10,
    batch_size: int = 1024,
    seed: int = 42,
) -> RankedLists:
    """The lists behind :func:`evaluate_new_items` (same arguments)."""
    users, targets, candidates = new_items_targets(train, split)
    batches = _known_user_batches(train, users, batch_size)
    # Held-out items have no training rows, so a user's history never hides a candidate.
    top_k = _ranking(scorer, batches, candidates, False, k, seed)
    return RankedLists(top_k, targets, len(candidates))


def new_raters_batch(
    train: Interactions,
    revealed: pd.DataFrame,
    raters: list[str],
    user_features: pd.DataFrame | None = None,
) -> UserBatch:
    """A cold batch (``user_idx == -1``) for ``raters`` with their revealed history.

    ``revealed`` must be in time order per rater; revealed items unknown to ``train`` are
    dropped from the history. ``user_features`` (indexed by rater id) is reindexed to batch
    order, so row i describes ``raters[i]``.
    """
    row_of = {rater: row for row, rater in enumerate(raters)}
    rows = revealed["user_id"].astype(str).map(row_of).to_numpy(dtype=np.int64)
    items = train.items.indices(revealed["item_id"].astype(str))
    keep = items >= 0
    history = sp.csr_matrix(
        (np.ones(int(keep.sum()), dtype=np.float32), (rows[keep], items[keep])),
        shape=(len(raters), train.n_items),
    )
    history.sum_duplicates()
    history.data[:] = 1.0
    sequences = [items[keep][rows[keep] == row] for row in range(len(raters))]
    features = None
    if user_features is not None:
        features = _with_str_index(user_features).reindex(raters)
    return UserBatch(np.full(len(raters), -1, dtype=np.int64), history, sequences, features)


def new_raters_targets(train: Interactions, split: NewRatersSplit) -> tuple[list[str], list]:
    """Held-out raters with at least one test row, and their test items as indices.

    Test items unknown to ``train`` are numbered past the catalogue: never hit, still counted.
    """
    test = split.test()
    item_ids = test["item_id"].astype(str).to_numpy()
    item_idx = train.items.indices(item_ids)
    unknown = item_idx < 0
    item_idx[unknown] = train.n_items + pd.factorize(item_ids[unknown])[0]
    codes, raters = pd.factorize(test["user_id"].astype(str))
    users, targets = _group_targets(codes, item_idx)
    return [str(raters[u]) for u in users], targets


def evaluate_new_raters(
    scorer: Scorer,
    train: Interactions,
    split: NewRatersSplit,
    user_features: pd.DataFrame | None = None,
    k: int = 10,
    seed: int = 42,
) -> dict[int, dict[str, float]]:
    """Rank training items for held-out raters given their first k interactions, per k.

    Args:
        scorer: fitted on ``train``; it sees ``user_idx == -1``, the revealed history and,
            when given, ``UserBatch.user_features``.
        train: interactions of the other raters (their vocabulary defines the candidates).
        split: from :func:`new_raters_split`.
        user_features: rater attributes indexed by rater id (may include held-out raters).
        k: list length.
        seed: seeds the random order that breaks ties.

    Returns:
        ``{revealed count: figures}``, figures named as in :func:`evaluate_new_items`.
    """
    ranked = rank_new_raters(scorer, train, split, user_features, k, seed)
    return {count: _summary(lists.top_k, lists.targets, k) for count, lists in ranked.items()}


def rank_new_raters(
    scorer: Scorer,
    train: Interactions,
    split: NewRatersSplit,
    user_features: pd.DataFrame | None = None,
    k: int = 10,
    seed: int = 42,
) -> dict[int, RankedLists]:
    """The lists behind :func:`evaluate_new_raters` (same arguments), per revealed count."""
    raters, targets = new_raters_targets(train, split)
    candidates = np.arange(train.n_items)
    results = {}
    for count in split.reveal:
        batch = new_raters_batch(train, split.revealed(count), raters, user_features)
        top_k = _ranking(scorer, iter([batch]), candidates, True, k, seed)
        results[count] = RankedLists(top_k, targets, len(candidates))
    return results


def paired_difference(first: np.ndarray, second: np.ndarray) -> tuple[float, float]:
    """Mean and standard error of ``first - second`` over the same users (e.g. NDCG@10)."""
    difference = np.asarray(first, dtype=np.float64) - np.asarray(second, dtype=np.float64)
    if len(difference) < 2:
        return float(difference.mean()) if len(difference) else 0.0, float("nan")
    return float(difference.mean()), float(difference.std(ddof=1) / np.sqrt(len(difference)))


# --- reference scorers --------------------------------------------------------------------------


def expected_random(targets: list[np.ndarray], n_candidates: int, k: int = 10) -> dict[str, float]:
    """Expected NDCG@k and HR@k of a uniformly random ranking of ``n_candidates`` items.

    Each of a user's ``t`` relevant items sits at any rank with probability 1/n, so
    E[DCG@k] = (t/n) Σ_{i≤k} 1/log2(i+1), and HR@k = 1 - C(n-t, k)/C(n, k).
    """
    discounts = 1.0 / np.log2(np.arange(2, k + 2))
    ndcg, hits = [], []
    for items in targets:
        t = min(len(np.unique(items)), n_candidates)
        ideal = discounts[: min(t, k)].sum()
        ndcg.append(t / n_candidates * discounts[: min(k, n_candidates)].sum() / ideal)
        hits.append(1.0 - _choose_ratio(n_candidates - t, n_candidates, k))
    return {f"ndcg_at_{k}": float(np.mean(ndcg)), f"hit_rate_at_{k}": float(np.mean(hits))}


def _choose_ratio(a: int, b: int, k: int) -> float:
    """C(a, k) / C(b, k) for a <= b, 0 when a < k."""
    if a < k:
        return 0.0
    log_c = lambda n: gammaln(n + 1) - gammaln(k + 1) - gammaln(n - k + 1)  # noqa: E731
    return float(np.exp(log_c(a) - log_c(b)))


def genre_flags(item_features: pd.DataFrame, items: Vocabulary) -> np.ndarray:
    """float64 multi-hot (n_items, n_genres) from the ``genres`` lists, in ``items`` order.

    Items missing from the frame get zero rows; genres are numbered in sorted order.
    """
    frame = _with_str_index(item_features)
    assert frame is not None
    lists = frame["genres"].reindex(items.ids())
    lists = [list(v) if isinstance(v, list | tuple | np.ndarray) else [] for v in lists]
    names = sorted({g for genres in lists for g in genres})
    column = {name: j for j, name in enumerate(names)}
    flags = np.zeros((len(lists), len(names)))
    for row, genres in enumerate(lists):
        flags[row, [column[g] for g in genres]] = 1.0
    return flags


class GenreProfile:
    """Cosine between a user's mean genre vector and each item's genre flags.

    The profile is the mean of the genre flags of the user's history items (the training
    interactions for known users, the batch history for new ones). Users with no history, or
    items without genres, score 0.
    """

    def __init__(self, train: Interactions, item_features: pd.DataFrame) -> None:
        flags = genre_flags(item_features, train.items)
        norms = np.linalg.norm(flags, axis=1, keepdims=True)
        self.unit_flags = np.divide(flags, norms, out=np.zeros_like(flags), where=norms > 0)
        self.flags = flags

    def score(self, batch: UserBatch) -> np.ndarray:
        history = sp.csr_matrix(batch.history, dtype=np.float64)
        history.data[:] = 1.0
        counts = np.maximum(np.asarray(history.sum(axis=1)), 1.0)
        profile = np.asarray(history @ self.flags) / counts
        norms = np.linalg.norm(profile, axis=1, keepdims=True)
        profile = np.divide(profile, norms, out=np.zeros_like(profile), where=norms > 0)
        return (profile @ self.unit_flags.T).astype(np.float32)
