"""Biased MF specifics: it recovers a known low-rank rating matrix, clips, and falls back."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import torch

from recommender.algorithms.base import ConfigError, TrainOptions
from recommender.algorithms.biased_mf import BiasedMF, BiasedMFConfig
from recommender.data import UserBatch, interactions_from_frame

N_USERS, N_ITEMS, RANK = 60, 40, 2


@pytest.fixture(scope="module")
def low_rank():
    """Ratings 3 + b_u + b_i + p_u · q_i (rank 2) plus a little noise; 60% seen, 40% held out."""
    rng = np.random.default_rng(0)
    users, items = np.meshgrid(np.arange(N_USERS), np.arange(N_ITEMS), indexing="ij")
    p, q = rng.normal(0, 0.6, (N_USERS, RANK)), rng.normal(0, 0.6, (N_ITEMS, RANK))
    truth = 3 + rng.normal(0, 0.3, (N_USERS, 1)) + rng.normal(0, 0.3, (1, N_ITEMS)) + p @ q.T
    frame = pd.DataFrame(
        {
            "user_id": users.ravel().astype(str),
            "item_id": items.ravel().astype(str),
            "value": (truth + rng.normal(0, 0.05, truth.shape)).ravel(),
        }
    )
    seen = rng.random(len(frame)) < 0.6
    return interactions_from_frame(frame[seen]), frame[~seen]


def _rmse(model, data, test) -> float:
    users = data.users.indices(test["user_id"])
    items = data.items.indices(test["item_id"])
    return float(np.sqrt(np.mean((model.predict(users, items) - test["value"].to_numpy()) ** 2)))


@pytest.mark.parametrize(
    "config",
    [
        {"solver": "als", "factors": 2, "epochs": 15, "reg": 0.05, "bias_reg": 0.05},
        {"solver": "mcmc", "factors": 2, "epochs": 60, "burn_in": 20, "noise_share": 0.01},
    ],
    ids=["als", "mcmc"],
)
def test_recovers_a_low_rank_rating_matrix(low_rank, config):
    data, test = low_rank
    model = BiasedMF(BiasedMFConfig.from_dict(config | {"min_rating": -10, "max_rating": 20}))

    model.fit(data, TrainOptions(seed=0))

    # The held-out ratings spread with a standard deviation of about 0.7.
    assert _rmse(model, data, test) < 0.15


def test_default_config_beats_the_biases_alone(low_rank):
    data, test = low_rank
    model = BiasedMF()
    biases_only = BiasedMF(BiasedMFConfig(solver="als", factors=1, reg=1e6))

    model.fit(data, TrainOptions(seed=0))
    biases_only.fit(data, TrainOptions(seed=0))

    assert _rmse(model, data, test) < 0.8 * _rmse(biases_only, data, test)


def test_predictions_are_clipped_to_the_rating_range(low_rank):
    data, _ = low_rank
    model = BiasedMF(BiasedMFConfig(solver="als", factors=2, epochs=5, max_rating=3.5))
    model.fit(data, TrainOptions(seed=0))
    users, items = np.meshgrid(np.arange(data.n_users), np.arange(data.n_items), indexing="ij")

    predicted = model.predict(users.ravel(), items.ravel())

    assert predicted.max() == 3.5
    assert predicted.min() >= 1.0
    # score() ranks with the unclipped estimates, so ties at the top are still ordered.
    assert model.score(UserBatch(np.arange(2), sp.csr_matrix((2, data.n_items)))).max() > 3.5


def test_unknown_user_or_item_falls_back_to_biases(low_rank):
    data, _ = low_rank
    model = BiasedMF(BiasedMFConfig(solver="als", factors=2, epochs=5))
    model.fit(data, TrainOptions(seed=0))
    users, items = model.user_vectors, model.item_vectors
    mean = model.global_mean

    predicted = model.predict(np.array([-1, 3, -1]), np.array([5, -1, -1]))

    expected = [mean + items[5, 0].item(), mean + users[3, 0].item(), mean]
    np.testing.assert_allclose(predicted, expected, rtol=1e-5)
    cold = model.score(UserBatch(np.array([-1]), sp.csr_matrix((1, data.n_items))))
    np.testing.assert_allclose(cold[0], mean + items[:, 0].numpy(), rtol=1e-5)


def test_mcmc_averages_the_kept_samples(low_rank):
    data, _ = low_rank
    config = BiasedMFConfig(factors=3, epochs=10, burn_in=4, thin=2)
    model = BiasedMF(config)
    reported = []

    model.fit(data, TrainOptions(seed=0), on_epoch=lambda e, m: reported.append(e))

    # epochs 5, 7 and 9 are kept: three samples of three factors, plus the bias column
    assert model.user_vectors.shape == (data.n_users, 1 + 3 * 3)
    assert reported == list(range(1, 11))


def test_same_seed_same_model(low_rank):
    data, _ = low_rank
    first = BiasedMF(BiasedMFConfig(epochs=8, burn_in=3))
    second = BiasedMF(BiasedMFConfig(epochs=8, burn_in=3))

    first.fit(data, TrainOptions(seed=5))
    second.fit(data, TrainOptions(seed=5))

    assert torch.equal(first.user_vectors, second.user_vectors)


def test_state_round_trip(low_rank):
    data, test = low_rank
    model = BiasedMF(BiasedMFConfig(epochs=8, burn_in=3))
    model.fit(data, TrainOptions(seed=0))

    loaded = BiasedMF.from_state(model.config, model.get_state())

    assert _rmse(loaded, data, test) == _rmse(model, data, test)


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"solver": "sgd"}, "solver"),
        ({"epochs": 10, "burn_in": 10}, "burn_in"),
        ({"min_rating": 5.0, "max_rating": 1.0}, "max_rating"),
        ({"factors": 0}, "factors"),
    ],
)
def test_config_rejects_bad_values(values, field):
    with pytest.raises(ConfigError) as caught:
        BiasedMFConfig.from_dict(values)

    assert caught.value.field == field


def _top(scores: np.ndarray, k: int = 10) -> list[set[int]]:
    return [set(np.argsort(-row, kind="stable")[:k].tolist()) for row in scores]


def test_fold_in_of_a_known_history_reproduces_the_als_user(low_rank):
    data, _ = low_rank
    model = BiasedMF(BiasedMFConfig(solver="als", factors=2, epochs=15))
    model.fit(data, TrainOptions(seed=0))
    ratings = data.matrix(binary=False).astype(np.float32)
    users = np.arange(data.n_users)

    stored = model.score(UserBatch(users, ratings))
    folded = model.score(UserBatch(np.full(data.n_users, -1), ratings))

    # ALS's last sweep solved each user against nearly these items with the same penalty.
    np.testing.assert_allclose(folded, stored, atol=1e-3)


def test_fold_in_of_a_known_history_is_close_to_the_mcmc_average(low_rank):
    data, _ = low_rank
    model = BiasedMF(BiasedMFConfig(factors=4, epochs=30, burn_in=10))
    model.fit(data, TrainOptions(seed=0))
    ratings = data.matrix(binary=False).astype(np.float32)
    users = np.arange(data.n_users)

    stored = _top(model.score(UserBatch(users, ratings)))
    folded = _top(model.score(UserBatch(np.full(data.n_users, -1), ratings)))

    # A posterior average is not a ridge solution, but the lists mostly agree (0.84 measured).
    overlap = np.mean([len(a & b) / 10 for a, b in zip(stored, folded, strict=True)])
    assert overlap >= 0.8


def test_a_new_users_ratings_decide_their_list(low_rank):
    data, _ = low_rank
    model = BiasedMF(BiasedMFConfig(solver="als", factors=2, epochs=15))
    model.fit(data, TrainOptions(seed=0))
    # The items at the two ends of the first factor; two new users rate the same items, with
    # opposite tastes.
    order = np.argsort(model.item_vectors[:, 1].numpy(), kind="stable")
    liked, disliked = order[-4:], order[:4]
    columns = np.concatenate([liked, disliked])
    values = np.concatenate([np.full(4, 5.0), np.full(4, 1.0)])
    ratings = sp.csr_matrix(
        (np.concatenate([values, 6.0 - values]), (np.repeat([0, 1], 8), np.tile(columns, 2))),
        shape=(2, data.n_items),
    )

    scores = model.score(UserBatch(np.array([-1, -1]), ratings))

    assert scores[0, liked].mean() > scores[0, disliked].mean() + 0.5
    assert scores[1, disliked].mean() > scores[1, liked].mean() + 0.5
    # Closed form: the same ratings give the same vector.
    np.testing.assert_array_equal(model.fold_in(ratings), model.fold_in(ratings))


def test_a_binary_history_is_not_mistaken_for_one_star_ratings(low_rank):
    data, _ = low_rank
    model = BiasedMF(BiasedMFConfig(solver="als", factors=2, epochs=5))
    model.fit(data, TrainOptions(seed=0))
    seen = sp.csr_matrix((np.ones(3), ([0, 0, 0], [1, 2, 3])), shape=(1, data.n_items))

    scores = model.score(UserBatch(np.array([-1]), seen))

    items = model.item_vectors
    np.testing.assert_allclose(scores[0], model.global_mean + items[:, 0].numpy(), rtol=1e-5)
