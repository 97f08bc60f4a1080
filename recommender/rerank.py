"""Re-ranking after scoring: maximal marginal relevance (MMR) for diversity. Django-free."""

from __future__ import annotations

import numpy as np


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
