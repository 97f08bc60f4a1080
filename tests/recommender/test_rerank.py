"""MMR re-ranking trades relevance for genre diversity, and evaluation can show the trade."""

from __future__ import annotations

import numpy as np
import pandas as pd

from recommender.pipeline import run_protocol
from recommender.rerank import genre_features, intra_list_diversity, mmr


def test_zero_diversity_keeps_the_relevance_order():
    scores = np.array([0.2, 0.9, 0.5])

    assert mmr(scores, np.eye(3), 3, 0.0).tolist() == [1, 2, 0]


def test_diversity_pushes_a_different_genre_up():
    scores = np.array([1.0, 0.95, 0.9, 0.5])
    features = np.array([[1, 0], [1, 0], [1, 0], [0, 1]], dtype=float)

    assert mmr(scores, features, 2, 0.0).tolist() == [0, 1]
    assert mmr(scores, features, 2, 0.5).tolist() == [0, 3]


def test_intra_list_diversity_by_hand():
    same = np.array([[1, 0], [1, 0]], dtype=float)
    apart = np.array([[1, 0], [0, 1]], dtype=float)

    assert intra_list_diversity(same) == 0.0
    assert intra_list_diversity(apart) == 1.0


def test_genre_features_one_hot():
    flags = genre_features(pd.Series([["A", "B"], [], ["B"]], index=["1", "2", "3"]))

    assert flags.loc["1"].tolist() == [1.0, 1.0]
    assert flags.loc["2"].tolist() == [0.0, 0.0]
    assert flags.loc["3"].tolist() == [0.0, 1.0]


def test_evaluation_at_a_diversity_reports_more_diverse_lists():
    rng = np.random.default_rng(0)
    rows = [
        (f"u{u}", f"i{i}", 1.0, u * 100 + i) for u in range(60) for i in rng.choice(40, 12, False)
    ]
    frame = pd.DataFrame(rows, columns=["user_id", "item_id", "value", "timestamp"])
    frame["event_type"] = "rating"
    genres = genre_features(
        pd.Series([[f"g{i % 5}"] for i in range(40)], index=[f"i{i}" for i in range(40)])
    )

    plain = run_protocol(frame, "popularity", item_features=genres)
    diverse = run_protocol(frame, "popularity", item_features=genres, diversity=0.7)

    assert diverse.metrics["diversity_at_10"] > plain.metrics["diversity_at_10"]
