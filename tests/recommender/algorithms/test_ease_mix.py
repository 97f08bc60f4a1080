"""EASE-mix checks: each component against an independent computation on tiny data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from recommender.algorithms.base import ConfigError
from recommender.algorithms.ease_mix import EASEMix, EASEMixConfig
from recommender.data import UserBatch, interactions_from_frame, user_batch

# (user, item, timestamp): user u0 consumes i0, i1, i2, i3 in that order; u1 i2, i0, i4;
# u2 i3, i4; u3 i1, i4, i0.
ROWS = [
    ("u0", "i0", 10),
    ("u0", "i1", 20),
    ("u0", "i2", 30),
    ("u0", "i3", 40),
    ("u1", "i2", 10),
    ("u1", "i0", 20),
    ("u1", "i4", 30),
    ("u2", "i3", 10),
    ("u2", "i4", 20),
    ("u3", "i1", 10),
    ("u3", "i4", 20),
    ("u3", "i0", 30),
]
EASE_ONLY = {"neighbour_weight": 0.0, "spectral_weight": 0.0, "ials_weight": 0.0}


def fitted(**values: float) -> tuple[EASEMix, object]:
    # File order is not time order (nor its reverse), so the sequences must be sorted by time.
    shuffled = [ROWS[i] for i in (5, 2, 0, 11, 3, 7, 1, 9, 4, 10, 6, 8)]
    frame = pd.DataFrame(shuffled, columns=["user_id", "item_id", "timestamp"])
    data = interactions_from_frame(frame)
    model = EASEMix(EASEMixConfig.from_dict(values))
    model.fit(data)
    return model, data


def binary_matrix() -> np.ndarray:
    matrix = np.zeros((4, 5))
    for user, item, _ in ROWS:
        matrix[int(user[1]), int(item[1])] = 1.0
    return matrix


def zscore(scores: np.ndarray) -> np.ndarray:
    return (scores - scores.mean(axis=1, keepdims=True)) / scores.std(axis=1, keepdims=True)


def test_ease_weights_equal_steck_closed_form():
    model, _ = fitted(l2=2.0, dropout=0.2)
    matrix = binary_matrix()
    gram = matrix.T @ matrix
    precision = np.linalg.inv(gram + np.diag(2.0 + 0.25 * np.diag(gram)))
    expected = np.eye(5) - precision / np.diag(precision)

    np.testing.assert_allclose(model.ease_weights, expected, atol=1e-6)


def test_neighbours_count_time_order_windows_and_discount_popularity():
    model, _ = fitted(neighbour_window=2, neighbour_decay=0.5, neighbour_popularity_exponent=1.0)
    # Time-ordered sequences: u0 0,1,2,3; u1 2,0,4; u2 3,4; u3 1,4,0. Distance 1 weighs 1,
    # distance 2 weighs 0.5; pairs count in both directions.
    counts = np.zeros((5, 5))
    for sequence in ([0, 1, 2, 3], [2, 0, 4], [3, 4], [1, 4, 0]):
        for distance, weight in ((1, 1.0), (2, 0.5)):
            for a, b in zip(sequence, sequence[distance:], strict=False):
                counts[a, b] += weight
                counts[b, a] += weight
    popularity = binary_matrix().sum(axis=0)
    expected = counts / counts.sum(axis=1, keepdims=True) / popularity[None, :]

    np.testing.assert_allclose(model.neighbour_weights, expected, rtol=1e-6)


def test_spectral_component_is_the_projection_on_the_top_eigenvectors():
    model, data = fitted(spectral_rank=2)
    matrix = binary_matrix()
    user_scale = 1 / np.sqrt(matrix.sum(axis=1))
    item_scale = np.sqrt(matrix.sum(axis=0))
    normalised = user_scale[:, None] * matrix / item_scale[None, :]
    _, _, right = np.linalg.svd(normalised)
    top = right[:2].T  # the top-2 right singular vectors span the same space as the eigvecs
    expected = (matrix / item_scale) @ top @ top.T * item_scale

    got = matrix.astype(np.float32) @ model.spectral_in @ model.spectral_out.T
    np.testing.assert_allclose(got, expected, atol=1e-5)


def test_score_is_the_weighted_sum_of_zscored_components():
    model, data = fitted(
        neighbour_weight=0.4, spectral_weight=0.7, spectral_rank=2, ials_weight=0.3, ials_factors=3
    )
    matrix = binary_matrix()
    history = sp.csr_matrix(matrix, dtype=np.float32)

    expected = (
        zscore(matrix @ model.ease_weights)
        + 0.4 * zscore(matrix @ model.neighbour_weights)
        + 0.7 * zscore(matrix @ model.spectral_in @ model.spectral_out.T)
        + 0.3 * zscore(model.components(history)[3])
    )

    scores = model.score(user_batch(data, np.arange(4), binary=False))
    assert scores.dtype == np.float32
    np.testing.assert_allclose(scores, expected, atol=1e-5)


def test_components_are_kept_apart_even_at_zero_weight_and_mix_as_score_does():
    model, data = fitted(neighbour_weight=0.0, spectral_weight=0.7, spectral_rank=2)
    matrix = binary_matrix()
    history = sp.csr_matrix(matrix, dtype=np.float32)

    ease, neighbours, low_pass, ials = model.components(history)

    np.testing.assert_allclose(neighbours, zscore(matrix @ model.neighbour_weights), atol=1e-5)
    mixed = model.mix([ease, neighbours, low_pass, ials])
    np.testing.assert_allclose(ease + 0.7 * low_pass + 8.0 * ials, mixed, atol=1e-6)
    np.testing.assert_allclose(
        mixed,
        model.score(user_batch(data, np.arange(4))),
        atol=1e-5,
    )


def test_zero_weights_leave_plain_ease_rankings():
    model, data = fitted(**EASE_ONLY)

    scores = model.score(user_batch(data, np.arange(4)))

    np.testing.assert_allclose(scores, zscore(binary_matrix() @ model.ease_weights), atol=1e-5)


def test_an_empty_history_is_ranked_by_popularity():
    model, _ = fitted()
    empty = UserBatch(np.array([-1]), sp.csr_matrix((1, 5), dtype=np.float32))

    items, _ = model.recommend(empty, n=5)

    # Popularity (distinct users): i4 3, i0 3, i1 2, i2 2, i3 2; ties to the lower index.
    assert items[0].tolist() == [0, 4, 1, 2, 3]


DAY = 86_400
# User "a" was active on day 0 only. Items z and w first appear on days 5 and 6, after a's last
# visit; z co-occurs with a's items x and y for everybody else, v (day 0) with nothing of a's.
TIMED_ROWS = [
    ("a", "x", 0),
    ("a", "y", 0),
    ("e", "v", 0),
    ("b", "x", 5 * DAY),
    ("b", "y", 5 * DAY + 60),
    ("b", "z", 5 * DAY + 120),
    ("c", "x", 5 * DAY),
    ("c", "z", 5 * DAY + 60),
    ("d", "y", 6 * DAY),
    ("d", "z", 6 * DAY + 60),
    ("d", "w", 6 * DAY + 120),
]


def timed_model(margin_days: float) -> tuple[EASEMix, object]:
    frame = pd.DataFrame(TIMED_ROWS, columns=["user_id", "item_id", "timestamp"])
    data = interactions_from_frame(frame)
    model = EASEMix(
        EASEMixConfig(l2=1.0, spectral_rank=2, future_margin_days=margin_days, ials_weight=0.0)
    )
    model.fit(data)
    return model, data


def ranked_for_a(model: EASEMix, data, user_idx: int) -> list[str]:
    history = user_batch(data, data.users.indices(["a"])).history
    items, _ = model.recommend(UserBatch(np.array([user_idx]), history), n=3)
    return data.items.ids(items[0])


def test_items_that_appeared_after_a_users_last_visit_rank_last():
    model, data = timed_model(margin_days=1.0)

    ranked = ranked_for_a(model, data, int(data.users.index_of("a")))

    assert ranked[0] == "v"
    assert set(ranked[1:]) == {"z", "w"}


@pytest.mark.parametrize("margin_days", [-1.0, 7.0])
def test_time_context_off_or_wide_margin_keeps_the_co_occurring_item_first(margin_days):
    model, data = timed_model(margin_days)

    assert ranked_for_a(model, data, int(data.users.index_of("a")))[0] == "z"


def test_an_unknown_user_has_no_time_context():
    model, data = timed_model(margin_days=1.0)

    assert ranked_for_a(model, data, -1)[0] == "z"


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"l2": 0}, "l2"),
        ({"dropout": 1.0}, "dropout"),
        ({"neighbour_weight": -0.1}, "neighbour_weight"),
        ({"neighbour_window": 0}, "neighbour_window"),
        ({"neighbour_decay": 0.0}, "neighbour_decay"),
        ({"neighbour_popularity_exponent": 1.5}, "neighbour_popularity_exponent"),
        ({"spectral_weight": -1}, "spectral_weight"),
        ({"spectral_rank": 0}, "spectral_rank"),
        ({"future_margin_days": 40_000}, "future_margin_days"),
        ({"ials_weight": 11}, "ials_weight"),
        ({"ials_factors": 0}, "ials_factors"),
        ({"ials_unobserved_weight": -0.1}, "ials_unobserved_weight"),
        ({"ials_l2": 0.0}, "ials_l2"),
        ({"ials_epochs": 0}, "ials_epochs"),
        ({"ials_value_exponent": -1}, "ials_value_exponent"),
    ],
)
def test_config_validation_names_the_field(values, field):
    with pytest.raises(ConfigError) as caught:
        EASEMixConfig.from_dict(values)

    assert caught.value.field == field
