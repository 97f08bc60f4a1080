"""Re-ranking after scoring: maximal marginal relevance (MMR) for diversity. Django-free."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd


def mmr(scores: np.ndarray, features: np.ndarray, n: int, diversity: float) -> np.ndarray:
    """Pick ``n`` of the candidates, trading relevance for dissimilarity to those already picked.

    Args:
        scores: float, shape (c,); relevance of each candidate (any scale).
        features: float, shape (c, f); e.g. genre flags. Rows of zeros are similar to nothing.
        n: how many to pick.
        diversity: 0 keeps the relevance order; 1 cares only about dissimilarity.

    Returns:
        int64 positions into the candidates, in pick order, shape (min(n, c),).
    """
    count = len(scores)
    n = min(n, count)
    if diversity <= 0 or n <= 1 or count == 0:
        return np.argsort(-scores, kind="stable")[:n]
    spread = scores.max() - scores.min()
    relevance = (scores - scores.min()) / spread if spread > 0 else np.ones(count)
    norms = np.linalg.norm(features, axis=1, keepdims=True)
    unit = np.divide(features, norms, out=np.zeros_like(features, dtype=float), where=norms > 0)
    similarity = unit @ unit.T
    picked = [int(np.argmax(relevance))]
    max_sim = similarity[picked[0]].copy()
    available = np.ones(count, dtype=bool)
    available[picked[0]] = False
    while len(picked) < n:
        gain = (1 - diversity) * relevance - diversity * max_sim
        gain[~available] = -np.inf
        choice = int(np.argmax(gain))
        picked.append(choice)
        available[choice] = False
        max_sim = np.maximum(max_sim, similarity[choice])
    return np.array(picked, dtype=np.int64)


def intra_list_diversity(features: np.ndarray) -> float:
    """Mean pairwise cosine distance of a list's feature rows (0 when fewer than two)."""
    if len(features) < 2:
        return 0.0
    norms = np.linalg.norm(features, axis=1, keepdims=True)
    unit = np.divide(features, norms, out=np.zeros_like(features, dtype=float), where=norms > 0)
    similarity = unit @ unit.T
    upper = np.triu_indices(len(features), k=1)
    return float(np.mean(1 - similarity[upper]))


class Diversified:
    """A fitted-model wrapper whose ``recommend`` re-ranks the top candidates with MMR.

    Evaluation goes through it so that offline metrics show what serving at this diversity
    gives. Everything else (``score``, ``name``, ...) is the wrapped model's.
    """

    def __init__(
        self, model: Any, item_features: pd.DataFrame, diversity: float, pool_factor: int = 3
    ) -> None:
        self.model = model
        self.item_features = item_features
        self.diversity = diversity
        self.pool_factor = pool_factor
        self.features: np.ndarray | None = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self.model, name)

    def fit(self, data: Any, options: Any = None, on_epoch: Any = None) -> None:
        self.model.fit(data, options, on_epoch)
        frame = self.item_features.copy()
        frame.index = frame.index.astype(str)
        self.features = frame.reindex(data.items.ids(), fill_value=0).to_numpy(dtype=float)

    def recommend(
        self, batch: Any, n: int, exclude_history: bool = True
    ) -> tuple[np.ndarray, np.ndarray]:
        pool = min(self.pool_factor * n, self.model.n_items)
        idx, scores = self.model.recommend(batch, pool, exclude_history)
        assert self.features is not None, "fit the wrapper before recommending"
        out_idx = np.empty((len(idx), min(n, pool)), dtype=np.int64)
        out_scores = np.empty(out_idx.shape, dtype=scores.dtype)
        for row in range(len(idx)):
            finite = np.isfinite(scores[row])
            order = mmr(scores[row][finite], self.features[idx[row][finite]], n, self.diversity)
            picked = np.concatenate([idx[row][finite][order], idx[row][~finite]])[
                : out_idx.shape[1]
            ]
            values = np.concatenate([scores[row][finite][order], scores[row][~finite]])
            out_idx[row], out_scores[row] = picked, values[: out_idx.shape[1]]
        return out_idx, out_scores


def genre_features(genres: pd.Series) -> pd.DataFrame:
    """One-hot genre flags from a Series of genre lists indexed by item id."""
    exploded = genres.explode().dropna()
    if exploded.empty:
        return pd.DataFrame(index=genres.index)
    flags = pd.crosstab(exploded.index, exploded).clip(upper=1).astype(float)
    return flags.reindex(genres.index, fill_value=0.0)
