"""ItemKNN-specific checks: similarity by hand, neighbour pruning, weighting, explanations."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from recommender.algorithms import itemknn
from recommender.algorithms.base import ConfigError
from recommender.algorithms.itemknn import ItemKNN, ItemKNNConfig
from recommender.data import Interactions, interactions_from_frame, user_batch

# 5 users × 4 items, binary; item i3 is liked by nobody but u4
MATRIX = np.array(
    [
        [1, 1, 0, 0],
        [1, 1, 1, 0],
        [1, 0, 1, 0],
        [0, 1, 1, 0],
        [0, 0, 0, 1],
    ],
    dtype=float,
)


def data_of(matrix: np.ndarray) -> Interactions:
    users, items = np.nonzero(matrix)
    frame = pd.DataFrame(
        {"user_id": [f"u{u:03d}" for u in users], "item_id": [f"i{i:03d}" for i in items]}
    )
    return interactions_from_frame(frame)


def fit(config: ItemKNNConfig, matrix: np.ndarray = MATRIX) -> ItemKNN:
    model = ItemKNN(config)
    model.fit(data_of(matrix))
    return model


def reference_similarity(vectors: np.ndarray, alpha: float, shrink: float) -> np.ndarray:
    """sim[i, j] = <x_i, x_j> / (|x_i|^2alpha |x_j|^2(1-alpha) + shrink), zero diagonal."""
    dots = vectors @ vectors.T
    norms = np.diag(dots)
    sims = dots / (np.outer(norms**alpha, norms ** (1 - alpha)) + shrink)
    np.fill_diagonal(sims, 0)
    return sims


@pytest.mark.parametrize(("alpha", "shrink"), [(0.5, 0.0), (0.7, 0.0), (0.5, 2.0)])
def test_similarity_by_formula(alpha, shrink):
    config = ItemKNNConfig(neighbours=10, alpha=alpha, shrink=shrink, weighting="none")

    model = fit(config)

    expected = reference_similarity(MATRIX.T, alpha, shrink)
    np.testing.assert_allclose(model.similarity.toarray(), expected, rtol=1e-6)


def test_plain_cosine_by_hand():
    model = fit(ItemKNNConfig(neighbours=10, alpha=0.5, weighting="none"))
    # i0 and i1 share u0 and u1, and each has 3 users: cosine = 2 / 3
    assert model.similarity[0, 1] == pytest.approx(2 / 3)
    assert model.similarity[0, 3] == 0  # never liked together: not stored
    assert model.similarity.nnz == 6  # the three pairs among i0, i1, i2, both ways


def test_each_candidate_keeps_only_its_best_neighbours():
    rng = np.random.default_rng(0)
    matrix = (rng.random((40, 12)) < 0.4).astype(float)

    model = fit(ItemKNNConfig(neighbours=3, weighting="none"), matrix)

    full = reference_similarity(matrix.T, 0.7, 0.0)
    sims = model.similarity.toarray()
    for j in range(12):
        kept = np.flatnonzero(sims[:, j])
        assert len(kept) == 3
        # compare values, not indices: equal similarities may tie for the last place
        np.testing.assert_allclose(np.sort(sims[kept, j]), np.sort(full[:, j])[-3:], rtol=1e-6)


def test_blocked_computation_matches_a_single_block(monkeypatch):
    rng = np.random.default_rng(1)
    matrix = (rng.random((30, 9)) < 0.5).astype(float)
    config = ItemKNNConfig(neighbours=4)
    whole = fit(config, matrix).similarity.toarray()

    monkeypatch.setattr(itemknn, "_BLOCK_CELLS", 20)  # two candidates per block
    blocked = fit(config, matrix).similarity.toarray()

    np.testing.assert_array_equal(blocked, whole)


def bm25_reference(item_users: np.ndarray, k1: float, b: float) -> np.ndarray:
    """implicit's bm25_weight on a dense item × user matrix."""
    idf = np.log(item_users.shape[0] / (1 + (item_users > 0).sum(axis=0)))
    lengths = item_users.sum(axis=1)
    norm = (1 - b) + b * lengths / lengths.mean()
    weighted = item_users * (k1 + 1) / (k1 * norm[:, None] + item_users) * idf[None, :]
    return np.where(item_users > 0, weighted, 0.0)


@pytest.mark.parametrize("weighting", ["bm25", "tfidf"])
def test_weighting_follows_implicits_formulas(weighting):
    config = ItemKNNConfig(neighbours=10, alpha=0.6, weighting=weighting, bm25_k1=1.5, bm25_b=0.5)

    model = fit(config)

    item_users = MATRIX.T
    if weighting == "bm25":
        vectors = bm25_reference(item_users, 1.5, 0.5)
    else:
        idf = np.log(item_users.shape[0] / (1 + item_users.sum(axis=0)))
        vectors = item_users * idf[None, :]
    expected = np.clip(reference_similarity(vectors, 0.6, 0.0), 0, None)
    np.testing.assert_allclose(model.similarity.toarray(), expected, rtol=1e-5, atol=1e-7)


def test_scores_are_binary_history_times_similarity():
    model = fit(ItemKNNConfig())
    batch = user_batch(data_of(MATRIX), np.arange(5), binary=False)

    expected = MATRIX @ model.similarity.toarray()
    np.testing.assert_allclose(model.score(batch), expected, rtol=1e-6)


def test_explain_names_the_history_items_that_drive_a_score():
    model = fit(ItemKNNConfig(neighbours=10, alpha=0.5, weighting="none"))
    history = sp.csr_matrix(np.array([[1.0, 1.0, 0.0, 1.0]]))

    # item 2's score comes from i0 and i1 (cosine 2/3 each, tie -> lower index); i3 adds nothing
    assert model.explain(history, 2).tolist() == [0, 1]
    assert model.explain(history, 2, top=1).tolist() == [0]
    assert model.explain(np.array([0.0, 0.0, 0.0, 1.0]), 2).tolist() == []


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"neighbours": 0}, "neighbours"),
        ({"alpha": 1.5}, "alpha"),
        ({"shrink": -1}, "shrink"),
        ({"weighting": "cosine"}, "weighting"),
        ({"bm25_k1": 0}, "bm25_k1"),
        ({"bm25_b": 2}, "bm25_b"),
    ],
)
def test_config_validation(values, field):
    with pytest.raises(ConfigError) as caught:
        ItemKNNConfig.from_dict(values)
    assert caught.value.field == field
