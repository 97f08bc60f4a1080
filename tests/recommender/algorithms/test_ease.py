"""EASE-specific checks: the closed form, computed independently on a tiny matrix."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from recommender.algorithms.base import ConfigError
from recommender.algorithms.ease import EASE, EASEConfig
from recommender.data import interactions_from_frame, user_batch

# 4 users × 4 items, binary
MATRIX = np.array(
    [
        [1, 1, 0, 0],
        [1, 1, 1, 0],
        [0, 1, 1, 1],
        [0, 0, 1, 1],
    ],
    dtype=float,
)


def fitted(config: EASEConfig) -> tuple[EASE, object]:
    users, items = np.nonzero(MATRIX)
    frame = pd.DataFrame(
        {"user_id": [f"u{u:03d}" for u in users], "item_id": [f"i{i:03d}" for i in items]}
    )
    data = interactions_from_frame(frame)
    model = EASE(config)
    model.fit(data)
    return model, data


def reference_weights(l2: float, dropout: float) -> np.ndarray:
    """Steck's closed form, written with a plain inverse: B = I - P diag(1/diag(P))."""
    gram = MATRIX.T @ MATRIX
    penalty = np.diag(l2 + dropout / (1 - dropout) * np.diag(gram))
    precision = np.linalg.inv(gram + penalty)
    return np.eye(4) - precision @ np.diag(1 / np.diag(precision))


@pytest.mark.parametrize(("l2", "dropout"), [(0.5, 0.0), (2.0, 0.0), (1.0, 0.2)])
def test_weights_equal_the_closed_form(l2, dropout):
    model, _ = fitted(EASEConfig(l2=l2, dropout=dropout))

    np.testing.assert_allclose(model.weights, reference_weights(l2, dropout), atol=1e-6)
    assert np.all(np.diag(model.weights) == 0)


def test_scores_are_binary_history_times_weights():
    model, data = fitted(EASEConfig(l2=1.0, dropout=0.0))
    batch = user_batch(data, np.arange(4), binary=False)  # explicit values are binarised

    np.testing.assert_allclose(model.score(batch), MATRIX @ reference_weights(1.0, 0.0), atol=1e-6)


@pytest.mark.parametrize(("values", "field"), [({"l2": 0}, "l2"), ({"dropout": 1.0}, "dropout")])
def test_config_validation(values, field):
    with pytest.raises(ConfigError) as caught:
        EASEConfig.from_dict(values)
    assert caught.value.field == field
