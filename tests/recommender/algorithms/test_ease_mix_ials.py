"""The iALS component of ``ease_mix``: exact fold-in, monotone training, a known right answer."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from recommender.algorithms.base import TrainOptions
from recommender.algorithms.ease_mix import (
    EASEMix,
    EASEMixConfig,
    ials_fold_in,
    ials_item_factors,
    value_confidences,
)
from recommender.data import Interactions, UserBatch, interactions_from_frame, user_batch


def objective(
    matrix: np.ndarray, users: np.ndarray, items: np.ndarray, alpha0: float, l2: float
) -> float:
    """Rendle et al.'s iALS loss with frequency-scaled L2 (ν = 1), written out directly; the
    matrix's non-zero values are the observed pairs' confidences."""
    predicted = users @ items.T
    observed = matrix > 0
    n_users, n_items = matrix.shape
    user_penalty = (observed.sum(axis=1) + alpha0 * n_items) * (users**2).sum(axis=1)
    item_penalty = (observed.sum(axis=0) + alpha0 * n_users) * (items**2).sum(axis=1)
    return float(
        (matrix[observed] * (1.0 - predicted[observed]) ** 2).sum()
        + alpha0 * (predicted**2).sum()
        + l2 * (user_penalty.sum() + item_penalty.sum())
    )


def test_fold_in_is_the_exact_ridge_solution_of_each_history():
    rng = np.random.default_rng(0)
    items = rng.normal(size=(7, 3))
    history = sp.csr_matrix(np.array([[1, 0, 1, 1, 0, 0, 0], [0, 0, 0, 0, 0, 0, 1]], float))
    alpha0, l2 = 0.1, 0.5

    got = ials_fold_in(history, items, alpha0, l2)

    # The same minimiser as an ordinary least-squares problem on stacked rows: observed items
    # with target 1, every item scaled by √α0 with target 0, and the ridge rows.
    for row, observed in enumerate(([0, 2, 3], [6])):
        ridge = np.sqrt(l2 * (len(observed) + alpha0 * 7)) * np.eye(3)
        design = np.vstack([items[observed], np.sqrt(alpha0) * items, ridge])
        target = np.concatenate([np.ones(len(observed)), np.zeros(7 + 3)])
        expected = np.linalg.lstsq(design, target, rcond=None)[0]
        np.testing.assert_allclose(got[row], expected, atol=1e-10)


def test_an_empty_history_folds_in_to_zero_even_without_unobserved_weight():
    items = np.ones((4, 2))

    got = ials_fold_in(sp.csr_matrix((1, 4)), items, 0.0, 0.1)

    np.testing.assert_array_equal(got, np.zeros((1, 2)))


@pytest.mark.parametrize("weighted", [False, True])
def test_each_sweep_lowers_the_loss(weighted):
    rng = np.random.default_rng(1)
    matrix = (rng.random((12, 9)) < 0.35).astype(float)
    if weighted:  # confidences in [0.2, 3)
        matrix *= rng.uniform(0.2, 3.0, matrix.shape)
    csr = sp.csr_matrix(matrix)
    alpha0, l2 = 0.05, 0.05
    losses = []
    for epochs in range(1, 6):
        items = ials_item_factors(csr, 3, alpha0, l2, epochs, np.random.default_rng(7))
        losses.append(objective(matrix, ials_fold_in(csr, items, alpha0, l2), items, alpha0, l2))

    # Alternating exact minimisation never raises the loss (the same start for every run).
    assert all(b <= a + 1e-9 for a, b in zip(losses, losses[1:], strict=False))
    assert losses[-1] < losses[0]


def blocks() -> Interactions:
    """Two taste groups: users a0-a3 consume items p0-p3, users b0-b3 items q0-q3; a0 has not
    consumed p3 yet, so p3 is the right answer for a0 and no q item is."""
    rows = [(f"a{u}", f"p{i}") for u in range(4) for i in range(4) if (u, i) != (0, 3)]
    rows += [(f"b{u}", f"q{i}") for u in range(4) for i in range(4)]
    frame = pd.DataFrame(rows, columns=["user_id", "item_id"]).assign(
        timestamp=np.arange(len(rows))
    )
    return interactions_from_frame(frame)


def test_the_ials_component_ranks_the_missing_item_of_the_users_group_first():
    data = blocks()
    model = EASEMix(EASEMixConfig(l2=1.0, spectral_rank=2, ials_factors=2, ials_l2=0.01))
    model.fit(data)
    user = data.users.indices(["a0"])

    ials = model.components(user_batch(data, user).history)[3][0]
    ials[data.items.indices(["p0", "p1", "p2"])] = -np.inf  # the history is excluded anyway

    assert data.items.ids([int(np.argmax(ials))]) == ["p3"]
    assert ials[data.items.indices(["p3"])][0] > ials[data.items.indices(["q0"])][0]


def test_an_unknown_user_gets_the_same_ials_scores_as_a_known_one_with_that_history():
    data = blocks()
    model = EASEMix(EASEMixConfig(l2=1.0, spectral_rank=2, ials_factors=2))
    model.fit(data)
    known = user_batch(data, data.users.indices(["a0"]))
    unknown = UserBatch(np.array([-1]), known.history)

    np.testing.assert_allclose(model.score(unknown), model.score(known), atol=1e-6)


def test_zero_ials_weight_trains_no_factors_and_leaves_scores_unchanged():
    data = blocks()
    model = EASEMix(EASEMixConfig(l2=1.0, spectral_rank=2, ials_weight=0.0))
    model.fit(data)
    batch = user_batch(data, np.arange(data.n_users))

    assert model.ials_items.shape == (data.n_items, 0)
    np.testing.assert_array_equal(model.components(batch.history)[3], 0.0)


@pytest.mark.parametrize("seed", [0, 1])
def test_training_is_deterministic_for_a_seed(seed):
    data = blocks()
    first, second = (EASEMix(EASEMixConfig(l2=1.0, spectral_rank=2)) for _ in range(2))
    first.fit(data, TrainOptions(seed=seed))
    second.fit(data, TrainOptions(seed=seed))

    np.testing.assert_array_equal(first.ials_items, second.ials_items)


def test_a_state_saved_before_the_ials_component_still_loads_and_scores():
    data = blocks()
    model = EASEMix(EASEMixConfig(l2=1.0, spectral_rank=2, ials_weight=0.0))
    model.fit(data)
    state = model.get_state()
    del state["ials_items"]
    batch = user_batch(data, np.arange(data.n_users))

    loaded = EASEMix.from_state(EASEMixConfig(l2=1.0, spectral_rank=2), state)

    np.testing.assert_allclose(loaded.score(batch), model.score(batch), atol=1e-6)


def test_fold_in_weights_each_observed_item_by_its_confidence():
    rng = np.random.default_rng(2)
    items = rng.normal(size=(6, 3))
    confidences = np.array([2.0, 0.5, 1.5])
    history = sp.csr_matrix((confidences, ([0, 0, 0], [1, 3, 4])), shape=(1, 6))
    alpha0, l2 = 0.2, 0.3

    got = ials_fold_in(history, items, alpha0, l2)

    # Weighted least squares as ordinary least squares: observed rows scaled by √c.
    observed = items[[1, 3, 4]] * np.sqrt(confidences)[:, None]
    ridge = np.sqrt(l2 * (3 + alpha0 * 6)) * np.eye(3)
    design = np.vstack([observed, np.sqrt(alpha0) * items, ridge])
    target = np.concatenate([np.sqrt(confidences), np.zeros(6 + 3)])
    np.testing.assert_allclose(got[0], np.linalg.lstsq(design, target, rcond=None)[0], atol=1e-10)


def test_value_confidences_are_powers_of_the_value_over_its_mean():
    values = sp.csr_matrix(np.array([[1.0, 0.0, 5.0], [3.0, 3.0, 0.0]]))

    got = value_confidences(values, 2.0)

    np.testing.assert_allclose(got.toarray(), np.array([[1 / 9, 0, 25 / 9], [1, 1, 0]]))
    np.testing.assert_array_equal(value_confidences(values, 0.0).data, 1.0)
    np.testing.assert_array_equal(
        value_confidences(sp.csr_matrix(np.full((2, 2), 4.0)), 3.0).data, 1.0
    )


def rated(values: list[float]) -> Interactions:
    rows = [(f"u{u}", f"i{i}") for u in range(4) for i in range(4) if (u + i) % 3]
    frame = pd.DataFrame(rows, columns=["user_id", "item_id"]).assign(
        timestamp=np.arange(len(rows)), value=[values[k % len(values)] for k in range(len(rows))]
    )
    return interactions_from_frame(frame)


def test_equal_values_make_the_value_exponent_inert():
    data = rated([1.0])
    binary, weighted = (
        EASEMix(EASEMixConfig(l2=1.0, spectral_rank=2, ials_value_exponent=exponent))
        for exponent in (0.0, 4.0)
    )
    binary.fit(data)
    weighted.fit(data)

    np.testing.assert_allclose(weighted.ials_items, binary.ials_items, atol=1e-6)


def test_value_confidences_change_training_but_scoring_reads_the_binary_history():
    data = rated([1.0, 5.0, 3.0])
    binary, weighted = (
        EASEMix(EASEMixConfig(l2=1.0, spectral_rank=2, ials_value_exponent=exponent))
        for exponent in (0.0, 2.0)
    )
    binary.fit(data)
    weighted.fit(data)
    valued = user_batch(data, np.arange(data.n_users), binary=False)
    plain = user_batch(data, np.arange(data.n_users), binary=True)
    confidences = value_confidences(data.matrix(binary=False), 2.0)
    expected = ials_item_factors(confidences, 128, 0.02, 0.02, 8, TrainOptions().rng()).astype(
        np.float32
    )

    np.testing.assert_allclose(weighted.ials_items, expected, atol=1e-6)
    assert not np.allclose(weighted.ials_items, binary.ials_items, atol=1e-3)
    np.testing.assert_allclose(weighted.score(valued), weighted.score(plain), atol=1e-6)
