"""Id vocabularies and interaction matrices: the seam between DataFrames and model tensors.

Database keys (``rater_id``/``item_id``, here the external id strings) and matrix positions
(``user_idx``/``item_idx``) meet only in :class:`Vocabulary`, which is saved inside every artifact.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import scipy.sparse as sp


class Vocabulary:
    """A frozen, ordered mapping between string ids and dense indices ``0..n-1``."""

    def __init__(self, ids: Iterable[str]) -> None:
        self._ids: list[str] = [str(i) for i in ids]
        self._index: dict[str, int] = {key: idx for idx, key in enumerate(self._ids)}
        if len(self._index) != len(self._ids):
            raise ValueError("Vocabulary ids must be unique")

    def __len__(self) -> int:
        return len(self._ids)

    def __contains__(self, key: object) -> bool:
        return key in self._index

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Vocabulary) and self._ids == other._ids

    def index_of(self, key: str) -> int:
        """The index of ``key``, or -1 when the id is unknown."""
        return self._index.get(key, -1)

    def indices(self, keys: Iterable[str]) -> np.ndarray:
        """int64 array of indices; -1 marks unknown ids."""
        get = self._index.get
        return np.fromiter((get(str(k), -1) for k in keys), dtype=np.int64)

    def ids(self, indices: Iterable[int] | None = None) -> list[str]:
        if indices is None:
            return list(self._ids)
        return [self._ids[int(i)] for i in indices]

    @classmethod
    def from_values(cls, values: Iterable[object]) -> Vocabulary:
        """Vocabulary of the distinct values in a deterministic order.

        Integer-like ids sort numerically (so "10" follows "9"), others as strings. The order
        decides ties between equal scores, so it must not depend on input order.
        """
        distinct = {str(v) for v in values}
        if all(key.isdigit() for key in distinct):
            return cls(
                sorted(distinct, key=lambda key: (len(key.lstrip("0")), key.lstrip("0"), key))
            )
        return cls(sorted(distinct))


@dataclass(frozen=True)
class Interactions:
    """Training interactions as parallel arrays plus their vocabularies.

    Attributes:
        user_idx: int64, shape (n,).
        item_idx: int64, shape (n,).
        value: float32, shape (n,); the explicit rating or the implicit weight.
        timestamp: int64 seconds, shape (n,); orders sequences (ties keep input order).
    """

    user_idx: np.ndarray
    item_idx: np.ndarray
    value: np.ndarray
    timestamp: np.ndarray
    users: Vocabulary
    items: Vocabulary
    item_features: pd.DataFrame | None = field(default=None, compare=False)
    user_features: pd.DataFrame | None = field(default=None, compare=False)

    @property
    def n_users(self) -> int:
        return len(self.users)

    @property
    def n_items(self) -> int:
        return len(self.items)

    def __len__(self) -> int:
        return len(self.user_idx)

    def matrix(self, binary: bool = True) -> sp.csr_matrix:
        """User × item CSR matrix (float32); duplicates are summed, then clipped to 1 if binary."""
        data = np.ones(len(self), dtype=np.float32) if binary else self.value.astype(np.float32)
        mat = sp.csr_matrix(
            (data, (self.user_idx, self.item_idx)), shape=(self.n_users, self.n_items)
        )
        mat.sum_duplicates()
        if binary:
            mat.data[:] = 1.0
        return mat

    def sequences(self) -> list[np.ndarray]:
        """Each user's item indices in time order (stable on ties)."""
        order = np.lexsort((np.arange(len(self)), self.timestamp, self.user_idx))
        users = self.user_idx[order]
        items = self.item_idx[order]
        bounds = np.searchsorted(users, np.arange(self.n_users + 1))
        return [items[bounds[u] : bounds[u + 1]] for u in range(self.n_users)]

    def item_popularity(self) -> np.ndarray:
        """Number of distinct users per item, float64, shape (n_items,)."""
        return np.asarray(self.matrix(binary=True).sum(axis=0)).ravel().astype(np.float64)


def interactions_from_frame(
    frame: pd.DataFrame,
    users: Vocabulary | None = None,
    items: Vocabulary | None = None,
) -> Interactions:
    """Build :class:`Interactions` from a frame with ``user_id, item_id[, value, timestamp]``.

    Rows whose user or item is missing from a given vocabulary are dropped.
    """
    user_ids = frame["user_id"].astype(str).to_numpy()
    item_ids = frame["item_id"].astype(str).to_numpy()
    users = users or Vocabulary.from_values(user_ids)
    items = items or Vocabulary.from_values(item_ids)
    user_idx = _map(users, user_ids)
    item_idx = _map(items, item_ids)
    value = (
        frame["value"].to_numpy(dtype=np.float32)
        if "value" in frame
        else np.ones(len(frame), dtype=np.float32)
    )
    timestamp = _timestamps(frame)
    keep = (user_idx >= 0) & (item_idx >= 0)
    return Interactions(
        user_idx=user_idx[keep],
        item_idx=item_idx[keep],
        value=value[keep],
        timestamp=timestamp[keep],
        users=users,
        items=items,
    )


def _map(vocab: Vocabulary, ids: np.ndarray) -> np.ndarray:
    codes = pd.Index(vocab.ids()).get_indexer(ids)
    return codes.astype(np.int64)


def _timestamps(frame: pd.DataFrame) -> np.ndarray:
    if "timestamp" not in frame:
        return np.zeros(len(frame), dtype=np.int64)
    column = frame["timestamp"]
    if pd.api.types.is_datetime64_any_dtype(column):
        return (
            column.astype("datetime64[s, UTC]" if column.dt.tz else "datetime64[s]")
            .astype("int64")
            .to_numpy()
        )
    return column.to_numpy(dtype=np.int64)


@dataclass(frozen=True)
class UserBatch:
    """The users to score and what is known about them at scoring time.

    Attributes:
        user_idx: int64, shape (b,); -1 for a user the model never saw (cold start).
        history: CSR, shape (b, n_items); the interactions to condition on (values are the
            explicit ratings or implicit weights). Serving passes the rater's *current* ratings.
        sequences: time-ordered item indices per user, for sequence models (optional).
        user_features: attributes of the batch's users for feature-aware models (optional):
            row i describes user i of the batch (row order, not the index, aligns them), with
            the columns of ``Interactions.user_features`` (e.g. age, gender, occupation). A
            new rater with attributes but no history has ``user_idx`` -1, an empty history row
            and a row here; missing values mean "unknown".
    """

    user_idx: np.ndarray
    history: sp.csr_matrix
    sequences: Sequence[np.ndarray] | None = None
    user_features: pd.DataFrame | None = None

    def __len__(self) -> int:
        return len(self.user_idx)


def user_batch(data: Interactions, user_idx: np.ndarray, binary: bool = True) -> UserBatch:
    """A batch for known users with their training interactions as history."""
    user_idx = np.asarray(user_idx, dtype=np.int64)
    sequences = data.sequences()
    return UserBatch(
        user_idx=user_idx,
        history=data.matrix(binary=binary)[user_idx],
        sequences=[sequences[u] for u in user_idx],
    )
