"""Train/test splits for the evaluation protocols in ``shared/EVALUATION.md``.

Every function takes a ratings frame with the columns ``user_id``, ``item_id`` (strings),
``value`` (float) and ``timestamp`` (int seconds), in file order, and returns frames with the
same columns (and any extra ones) whose rows keep the input's relative order and index.

- P1: :func:`stratified_split`, a byte-for-byte re-implementation of Microsoft Recommenders'
  ``python_stratified_split`` (random per-user split).
- P2: :func:`kfold_split` (random rating folds); ML-100K ships its own ``u1..u5`` folds, which
  the bench reads directly.
- P3: :func:`leave_last_out` (temporal, per user).
"""

from __future__ import annotations

import logging
from typing import NamedTuple

import numpy as np
import pandas as pd

logger = logging.getLogger(__name__)


class TrainTestSplit(NamedTuple):
    """A train frame and a test frame; unpacks as ``train, test = split``."""

    train: pd.DataFrame
    test: pd.DataFrame


class LeaveLastOutSplit(NamedTuple):
    """Per-user temporal split; unpacks as ``train, validation, test = split``."""

    train: pd.DataFrame
    validation: pd.DataFrame
    test: pd.DataFrame


def stratified_split(
    frame: pd.DataFrame, ratio: float = 0.75, seed: int = 42, filter_by: str = "user"
) -> TrainTestSplit:
    """Random per-user (or per-item) split, identical to Recommenders' ``python_stratified_split``.

    ``np.random.seed(seed)`` then one ``np.random.rand()`` per row in input order; rows are ranked
    by that draw within each user, and each user's first ``round(ratio * n_u)`` rows (NumPy
    rounding, half to even) go to train. On ML-100K ``u.data`` with the defaults this gives
    74,992 train and 25,008 test rows.

    Args:
        frame: ratings in file order (the draw is tied to row position, so order matters).
        ratio: share of each group's rows that go to train, in (0, 1).
        seed: the legacy global NumPy seed that Recommenders uses.
        filter_by: "user" stratifies over users, "item" over items (Recommenders' P1-item).

    Returns:
        TrainTestSplit whose frames keep the input's row order and index.
    """
    if not 0.0 < ratio < 1.0:
        raise ValueError(f"ratio must be in (0, 1), got {ratio}")
    if filter_by not in ("user", "item"):
        raise ValueError(f"filter_by must be 'user' or 'item', got {filter_by!r}")
    column = "user_id" if filter_by == "user" else "item_id"
    # Recommenders seeds the legacy global generator; a Generator would draw different numbers.
    np.random.seed(seed)
    draws = np.random.rand(len(frame))
    groups = frame[column].to_numpy()
    rank = _rank_within_groups(groups, draws)
    is_train = rank <= np.round(ratio * _group_sizes(groups))
    return TrainTestSplit(train=frame[is_train], test=frame[~is_train])


def _rank_within_groups(groups: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """1-based rank of each row by ``keys`` inside its group, returned in input order."""
    codes = pd.factorize(groups)[0]
    order = np.lexsort((keys, codes))
    sorted_codes = codes[order]
    starts = np.flatnonzero(np.r_[True, sorted_codes[1:] != sorted_codes[:-1]])
    first_of_group = np.repeat(starts, np.diff(np.r_[starts, len(order)]))
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(len(order)) - first_of_group + 1
    return rank


def _group_sizes(groups: np.ndarray) -> np.ndarray:
    """The size of each row's group, in input order."""
    codes = pd.factorize(groups)[0]
    return np.bincount(codes)[codes]


def kfold_split(frame: pd.DataFrame, k: int = 5, seed: int = 42) -> list[TrainTestSplit]:
    """``k`` random rating folds (each row is in exactly one test fold), Surprise-style.

    Rows are shuffled with ``np.random.default_rng(seed)`` and dealt round-robin, so fold sizes
    differ by at most one. A user or item may be missing from a fold's train part: P2's fallback
    in :func:`recommender.evaluation.protocols.evaluate_rating` covers that.
    """
    if k < 2:
        raise ValueError(f"k must be at least 2, got {k}")
    fold = np.empty(len(frame), dtype=np.int64)
    fold[np.random.default_rng(seed).permutation(len(frame))] = np.arange(len(frame)) % k
    return [TrainTestSplit(train=frame[fold != i], test=frame[fold == i]) for i in range(k)]


def leave_last_out(frame: pd.DataFrame) -> LeaveLastOutSplit:
    """P3: each user's last interaction is test, the one before it validation, the rest train.

    Interactions are ordered by ``timestamp`` with ties broken by file order (ML-100K has many
    same-second ratings, so the tie rule changes the answer). A user with one interaction has
    only a test row; a user with two has a validation and a test row and no train rows.
    """
    users = frame["user_id"].to_numpy()
    order = np.lexsort((np.arange(len(frame)), frame["timestamp"].to_numpy()))
    time_position = np.empty(len(frame), dtype=np.int64)
    time_position[order] = np.arange(len(frame))
    # 1 = the user's last interaction, 2 = the one before it.
    reversed_rank = _group_sizes(users) - _rank_within_groups(users, time_position) + 1
    return LeaveLastOutSplit(
        train=frame[reversed_rank > 2],
        validation=frame[reversed_rank == 2],
        test=frame[reversed_rank == 1],
    )
