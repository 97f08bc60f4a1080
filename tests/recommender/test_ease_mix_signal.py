"""``Signal.rating_values``: implicit models can see rating strength (for ease_mix's iALS)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from recommender.algorithms.base import ConfigError, TrainOptions
from recommender.algorithms.ease_mix import EASEMix, EASEMixConfig, value_confidences
from recommender.data import interactions_from_frame
from recommender.pipeline import Signal

EVENTS = pd.DataFrame(
    {
        "user_id": ["u1", "u1", "u2", "u2", "u2"],
        "item_id": ["a", "b", "a", "b", "b"],
        "event_type": ["rating", "rating", "rating", "purchase", "rating"],
        "value": [4.0, 2.0, 5.0, np.nan, 1.0],
        "timestamp": [1, 2, 3, 4, 5],
    }
)


def values_by_pair(frame: pd.DataFrame) -> dict[tuple[str, str], float]:
    return {(r.user_id, r.item_id): r.value for r in frame.itertuples()}


def test_by_default_implicit_models_see_event_weights_only():
    signal = Signal.from_dict({"event_weights": {"rating": 1, "purchase": 3}})

    got = values_by_pair(signal.apply(EVENTS, explicit=False))

    assert got == {("u1", "a"): 1.0, ("u1", "b"): 1.0, ("u2", "a"): 1.0, ("u2", "b"): 4.0}


def test_rating_values_multiply_a_ratings_weight_by_the_rating():
    signal = Signal.from_dict(
        {"event_weights": {"rating": 2, "purchase": 3}, "rating_values": True}
    )

    got = values_by_pair(signal.apply(EVENTS, explicit=False))

    # u2's purchase of b keeps its weight 3 and adds to the rating 1 × 2.
    assert got == {("u1", "a"): 8.0, ("u1", "b"): 4.0, ("u2", "a"): 10.0, ("u2", "b"): 5.0}
    assert signal.to_dict()["rating_values"] is True
    assert Signal.from_dict(signal.to_dict()) == signal


def test_rating_values_leave_explicit_models_unchanged():
    plain, valued = Signal(), Signal(rating_values=True)

    pd.testing.assert_frame_equal(
        plain.apply(EVENTS, explicit=True), valued.apply(EVENTS, explicit=True)
    )


def test_rating_values_must_be_a_boolean():
    with pytest.raises(ConfigError) as caught:
        Signal.from_dict({"rating_values": "yes"})

    assert caught.value.field == "rating_values"


def test_ease_mix_trains_its_ials_on_the_rating_confidences_the_signal_passes():
    frame = EVENTS[EVENTS["event_type"] == "rating"]
    data = interactions_from_frame(Signal(rating_values=True).apply(frame, explicit=False))
    model = EASEMix(EASEMixConfig(l2=1.0, spectral_rank=1, ials_value_exponent=2.0))
    model.fit(data)

    confidences = value_confidences(data.matrix(binary=False), 2.0)

    # Ratings 4, 2, 5, 1 (mean 3) become confidences (r / 3)^2.
    np.testing.assert_allclose(
        np.sort(confidences.data), np.sort((np.array([4.0, 2.0, 5.0, 1.0]) / 3.0) ** 2)
    )
    assert model.ials_items.shape == (data.n_items, model.config.ials_factors)


def test_a_model_that_reads_rating_values_gets_them_without_the_option():
    assert EASEMix.reads_rating_values

    got = values_by_pair(Signal().apply(EVENTS, explicit=False, rating_values=True))

    # The default weights count ratings only: u2's purchase of b is left out.
    assert got == {("u1", "a"): 4.0, ("u1", "b"): 2.0, ("u2", "a"): 5.0, ("u2", "b"): 1.0}


def test_training_through_the_pipeline_hands_ease_mix_the_ratings(monkeypatch):
    from recommender import pipeline

    seen = []
    monkeypatch.setattr(
        EASEMix, "fit", lambda self, data, *a, **k: seen.append(data.matrix(binary=False))
    )

    pipeline.fit_for_serving(EVENTS, "ease_mix", {"spectral_rank": 1}, TrainOptions())

    assert sorted(seen[0].data.tolist()) == [1.0, 2.0, 4.0, 5.0]
