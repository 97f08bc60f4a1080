"""Protocols: a popularity model on a tiny data set whose P1 figures are worked out by hand."""

from __future__ import annotations

import math
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import pytest

from recommender.algorithms.base import AlgorithmConfig, Recommender, ValidationData
from recommender.algorithms.popularity import Popularity
from recommender.data import Interactions, UserBatch, interactions_from_frame, user_batch
from recommender.evaluation.protocols import (
    evaluate_ranking,
    evaluate_rating,
    per_user_ranking,
    ranking_targets,
    validation_metrics,
)

LOG2_3 = math.log2(3)


def frame(rows: list[tuple[str, str, float]]) -> pd.DataFrame:
    users, items, values = zip(*rows, strict=True)
    return pd.DataFrame(
        {"user_id": users, "item_id": items, "value": values, "timestamp": range(len(rows))}
    )


# Train popularity: i1 = 3, i2 = 2, i3 = 1, i4 = 1 (7 interactions).
TRAIN = frame(
    [
        ("u1", "i1", 5.0),
        ("u1", "i2", 3.0),
        ("u2", "i1", 4.0),
        ("u2", "i3", 2.0),
        ("u3", "i1", 1.0),
        ("u3", "i2", 4.0),
        ("u3", "i4", 5.0),
    ]
)
# i5 is unknown to train, u9 is unknown to train.
TEST = frame(
    [("u1", "i3", 4.0), ("u1", "i5", 2.0), ("u2", "i2", 5.0), ("u3", "i3", 3.0), ("u9", "i1", 1.0)]
)


@pytest.fixture
def train() -> Interactions:
    return interactions_from_frame(TRAIN)


@pytest.fixture
def popularity(train: Interactions) -> Popularity:
    model = Popularity()
    model.fit(train)
    return model


def test_ranking_targets_maps_unknown_items_past_the_catalogue_and_skips_unknown_users(train):
    targets = ranking_targets(train, TEST)

    assert train.users.ids(targets.user_idx) == ["u1", "u2", "u3"]
    assert [train.items.ids(t[t < 4]) for t in targets.items] == [["i3"], ["i2"], ["i3"]]
    assert targets.items[0].tolist() == [2, 4]  # i5 became index 4 = n_items
    assert targets.n_catalog == 5


def test_evaluate_ranking_by_hand(train, popularity):
    # Lists at k = 2 (candidates: train items minus the user's; ties go to the lower index):
    #   u1 -> i3, i4   targets {i3, i5}: hit at 1
    #   u2 -> i2, i4   targets {i2}:     hit at 1
    #   u3 -> i3, pad  targets {i3}:     hit at 1
    result = evaluate_ranking(popularity, train, TEST, k=2)

    assert result["users"] == 3
    assert result["precision_at_2"] == pytest.approx(0.5)
    assert result["recall_at_2"] == pytest.approx((0.5 + 1 + 1) / 3)
    assert result["ndcg_at_2"] == pytest.approx((1 / (1 + 1 / LOG2_3) + 1 + 1) / 3)
    assert result["map"] == pytest.approx((0.5 + 1 + 1) / 3)
    assert result["map_at_2"] == pytest.approx((0.5 + 1 + 1) / 3)
    assert result["hit_rate_at_2"] == 1.0
    assert result["mrr_at_2"] == 1.0
    assert result["coverage_at_2"] == pytest.approx(3 / 5)  # i2, i3, i4 of i1..i5
    # AUC: u1's i3 ties with i4 (0.5), u2's i2 beats i4 (1), u3 has no negative (left out)
    assert result["auc"] == pytest.approx(0.75)
    # novelty: -log2(1/7) for i3 and i4, -log2(2/7) for i2
    log7 = math.log2(7)
    assert result["novelty_at_2"] == pytest.approx((log7 + (log7 - 1 + log7) / 2 + log7) / 3)
    assert result["popularity_bias_at_2"] == pytest.approx((1 + 1.5 + 1) / 3)
    assert all(isinstance(value, float) and math.isfinite(value) for value in result.values())


def test_evaluate_ranking_splits_cold_and_warm_raters(train, popularity):
    result = evaluate_ranking(popularity, train, TEST, k=2, cold_threshold=3)

    assert result["cold_users"] == 2  # u1 and u2 have 2 train interactions
    assert result["warm_users"] == 1
    assert result["cold_recall_at_2"] == pytest.approx(0.75)
    assert result["warm_recall_at_2"] == pytest.approx(1.0)
    assert result["warm_coverage_at_2"] == pytest.approx(1 / 5)
    assert "warm_auc" not in result  # u3's AUC is undefined
    plain = {key for key in result if not key.startswith(("cold_", "warm_"))}
    assert {f"cold_{key}" for key in plain} <= set(result)


def test_an_empty_group_reports_only_its_count(train, popularity):
    result = evaluate_ranking(popularity, train, TEST, k=2)  # default threshold 20: all cold

    assert result["warm_users"] == 0
    assert not [key for key in result if key.startswith("warm_") and key != "warm_users"]


def test_evaluate_ranking_reports_diversity_with_item_features(train, popularity):
    # genre flags by item id; i3 and i4 share their genre, i2 does not
    genres = pd.DataFrame(
        {"drama": [1, 0, 1, 1], "comedy": [0, 1, 0, 0]}, index=["i1", "i2", "i3", "i4"]
    )

    result = evaluate_ranking(popularity, train, TEST, k=2, item_features=genres)

    # u1: (i3, i4) distance 0; u2: (i2, i4) distance 1; u3: one item, undefined
    assert result["diversity_at_2"] == pytest.approx(0.5)


def test_per_user_ranking_has_one_row_per_test_user(train, popularity):
    table = per_user_ranking(popularity, train, TEST, k=2, cold_threshold=3)

    assert table["user_id"].tolist() == ["u1", "u2", "u3"]
    assert table["n_train"].tolist() == [2, 2, 3]
    assert table["n_test"].tolist() == [2, 1, 1]
    assert table["cold"].tolist() == [True, True, False]
    assert table["recall_at_2"].tolist() == [0.5, 1.0, 1.0]
    assert {"ndcg_at_2", "map", "map_at_2", "auc", "novelty_at_2"} <= set(table.columns)


def test_evaluate_ranking_accepts_prepared_targets(train, popularity):
    targets = ranking_targets(train, TEST)

    assert evaluate_ranking(popularity, train, targets, k=2) == evaluate_ranking(
        popularity, train, TEST, k=2
    )


def test_batches_do_not_change_the_result(train, popularity):
    whole = evaluate_ranking(popularity, train, TEST, k=2, batch_size=100)
    one_by_one = evaluate_ranking(popularity, train, TEST, k=2, batch_size=1)
    assert whole == pytest.approx(one_by_one)


def test_validation_metrics(train, popularity):
    validation = ValidationData(
        batch=user_batch(train, np.array([0, 1])),
        targets=[np.array([3]), np.array([1])],  # u1 wants i4 (rank 2), u2 wants i2 (rank 1)
    )

    result = validation_metrics(popularity, validation, k=2)

    assert result == pytest.approx(
        {"val_ndcg_at_2": (1 / LOG2_3 + 1) / 2, "val_hit_rate_at_2": 1.0}
    )


# --- P2 -------------------------------------------------------------------------------------------


class ConstantRater(Recommender):
    """Predicts the same rating for every known pair."""

    name: ClassVar[str] = "constant"
    config_class: ClassVar[type[AlgorithmConfig]] = AlgorithmConfig
    predicts_ratings: ClassVar[bool] = True

    def __init__(self, value: float) -> None:
        super().__init__()
        self.value = value

    def fit(self, data, options=None, on_epoch=None) -> None:
        pass

    def score(self, batch: UserBatch) -> np.ndarray:
        raise NotImplementedError

    def predict(self, user_idx: np.ndarray, item_idx: np.ndarray) -> np.ndarray:
        return np.full(len(user_idx), self.value)

    def get_state(self) -> dict[str, Any]:
        return {}

    @classmethod
    def from_state(cls, config, state):
        raise NotImplementedError


def test_evaluate_rating_clips_and_falls_back(train):
    # given: u1-i3 known pair -> 10 clipped to the train maximum 5; u1-i5 unknown item -> u1's
    # mean 4; u9-i1 unknown user -> i1's mean 10/3; u2-i2 and u3-i3 known -> 5
    test = frame(
        [
            ("u1", "i3", 4.0),
            ("u1", "i5", 2.0),
            ("u9", "i1", 1.0),
            ("u2", "i2", 5.0),
            ("u3", "i3", 3.0),
        ]
    )
    predictions = np.array([5.0, 4.0, 10 / 3, 5.0, 5.0])
    errors = predictions - test["value"].to_numpy()
    # when
    result = evaluate_rating(ConstantRater(10.0), train, test)
    # then
    assert result["rmse"] == pytest.approx(math.sqrt(np.mean(errors**2)))
    assert result["mae"] == pytest.approx(np.mean(np.abs(errors)))
    assert result["like_accuracy"] == pytest.approx(3 / 5)  # right on u1-i3, u9-i1, u2-i2
    assert result["fallback_predictions"] == 2


def test_evaluate_rating_uses_the_global_mean_when_both_are_unknown(train):
    test = frame([("u9", "i9", 3.0)])

    result = evaluate_rating(ConstantRater(1.0), train, test)

    assert result["mae"] == pytest.approx(abs(24 / 7 - 3.0))
    assert result["fallback_predictions"] == 1


def test_evaluate_rating_refuses_ranking_only_models(train, popularity):
    with pytest.raises(ValueError, match="does not predict ratings"):
        evaluate_rating(popularity, train, TEST)
