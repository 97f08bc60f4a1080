"""Popularity-specific checks: distinct-user counts and the optional time decay."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from recommender.algorithms.base import ConfigError
from recommender.algorithms.popularity import Popularity, PopularityConfig
from recommender.data import interactions_from_frame, user_batch

DAY = 86_400


def test_scores_count_distinct_users_and_ignore_the_user():
    frame = pd.DataFrame(
        {"user_id": ["a", "a", "b", "c", "c"], "item_id": ["x", "y", "x", "x", "x"]}
    )
    data = interactions_from_frame(frame)
    model = Popularity()

    model.fit(data)

    scores = model.score(user_batch(data, np.arange(3)))
    assert scores.tolist() == [[3.0, 1.0]] * 3  # c's repeated x counts once


def test_half_life_decays_old_interactions():
    frame = pd.DataFrame(
        {
            "user_id": ["a", "b", "c"],
            "item_id": ["old", "old", "new"],
            "timestamp": [0, 0, 20 * DAY],
        }
    )
    model = Popularity(PopularityConfig(half_life_days=10.0))

    model.fit(interactions_from_frame(frame))

    # two interactions two half-lives old weigh 2 × 1/4; the newest weighs 1
    assert model.item_scores.tolist() == pytest.approx([1.0, 0.5])


def test_half_life_must_not_be_negative():
    with pytest.raises(ConfigError) as caught:
        PopularityConfig.from_dict({"half_life_days": -1})
    assert caught.value.field == "half_life_days"
