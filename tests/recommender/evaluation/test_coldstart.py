"""Cold-start protocols: who is held out, what is revealed, and how lists are scored."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from recommender.algorithms.base import ConfigError
from recommender.algorithms.popularity import Popularity
from recommender.data import UserBatch, Vocabulary, interactions_from_frame
from recommender.evaluation import coldstart
from recommender.pipeline import run_protocol

GENRES = {"a": ["Horror"], "b": ["Comedy"]}


def taste_frame() -> tuple[pd.DataFrame, pd.DataFrame]:
    """20 raters in two taste groups over 20 items (10 horror, 10 comedy); ids "1".."20"."""
    rows = []
    for user in range(20):
        group = user % 2
        for item in range(10):
            if (user + item) % 3:  # each rater sees two thirds of their group's items
                rows.append((str(user + 1), str(group * 10 + item + 1), 4.0, user * 100 + item))
    frame = pd.DataFrame(rows, columns=["user_id", "item_id", "value", "timestamp"])
    items = pd.DataFrame(
        {
            "title": [f"Film {i} (1990)" for i in range(1, 21)],
            "genres": [GENRES["a"] if i <= 10 else GENRES["b"] for i in range(1, 21)],
        },
        index=[str(i) for i in range(1, 21)],
    )
    return frame, items


class Constant:
    """Scores every item the same: only the tie rule decides the list."""

    def __init__(self, n_items: int) -> None:
        self.n_items = n_items

    def score(self, batch: UserBatch) -> np.ndarray:
        return np.zeros((len(batch), self.n_items), dtype=np.float32)


# --- new items ----------------------------------------------------------------------------------


def test_held_out_ids_follow_the_documented_permutation():
    ids = [str(i) for i in range(1, 31)]

    held = coldstart.held_out_ids(reversed(ids), fraction=0.1, seed=42)

    expected = np.random.default_rng(42).permutation(np.array(ids, dtype=object))[:3]
    assert held == list(expected)


def test_new_items_split_holds_out_every_interaction_of_the_held_out_items():
    frame, items = taste_frame()

    split = coldstart.new_items_split(frame, items, fraction=0.2, seed=42)

    assert len(split.held_out) == 4
    assert set(split.test["item_id"]) <= set(split.held_out)
    assert not set(split.train["item_id"]) & set(split.held_out)
    assert len(split.train) + len(split.test) == len(frame)


def test_new_items_interactions_give_cold_items_an_index_but_no_rows():
    frame, items = taste_frame()
    split = coldstart.new_items_split(frame, items, fraction=0.2, seed=42)

    train = coldstart.new_items_interactions(split)

    assert train.n_items == 20
    cold = train.items.indices(split.held_out)
    assert (cold >= 0).all()
    assert (train.item_popularity()[cold] == 0).all()
    assert train.item_features is not None


def test_evaluate_new_items_ranks_only_the_held_out_items():
    frame, items = taste_frame()
    split = coldstart.new_items_split(frame, items, fraction=0.2, seed=42)
    train = coldstart.new_items_interactions(split)
    users, targets, candidates = coldstart.new_items_targets(train, split)

    class Oracle:
        def score(self, batch: UserBatch) -> np.ndarray:
            scores = np.zeros((len(batch), train.n_items), dtype=np.float32)
            scores[:, : train.n_items // 2] = 5.0  # a decoy warm block scores highest
            for row, user in enumerate(batch.user_idx):
                scores[row, targets[int(np.searchsorted(users, user))]] = 10.0
            return scores

    result = coldstart.evaluate_new_items(Oracle(), train, split, k=2)

    assert result["ndcg_at_2"] == pytest.approx(1.0)
    assert result["candidates"] == 4
    assert result["users"] == len(users)
    assert set(candidates) == set(train.items.indices(split.held_out))


def test_ties_are_not_broken_by_item_index():
    # given: every user's only target is the lowest-index candidate
    frame, items = taste_frame()
    split = coldstart.new_items_split(frame, items, fraction=0.5, seed=0)
    train = coldstart.new_items_interactions(split)
    _, _, candidates = coldstart.new_items_targets(train, split)
    lowest = train.items.ids([candidates[0]])[0]
    split = coldstart.NewItemsSplit(
        split.train,
        split.test[split.test["item_id"] == lowest],
        split.held_out,
        split.catalogue,
        split.item_features,
    )

    # when: a constant scorer ranks the candidates
    results = {
        seed: coldstart.evaluate_new_items(Constant(train.n_items), train, split, k=1, seed=seed)
        for seed in range(8)
    }

    # then: the lowest index is not always first (an index tie-break would give HR@1 = 1)
    assert min(r["hit_rate_at_1"] for r in results.values()) == 0.0


def test_expected_random_matches_hand_computation():
    # one relevant item of four: P(rank 1) = 1/4, so NDCG@1 = HR@1 = 0.25
    result = coldstart.expected_random([np.array([3])], n_candidates=4, k=1)
    assert result["ndcg_at_1"] == pytest.approx(0.25)
    assert result["hit_rate_at_1"] == pytest.approx(0.25)

    # two relevant of four, k=2: HR = 1 - C(2,2)/C(4,2) = 5/6
    result = coldstart.expected_random([np.array([0, 1])], n_candidates=4, k=2)
    assert result["hit_rate_at_2"] == pytest.approx(5 / 6)
    ideal = 1 + 1 / np.log2(3)
    assert result["ndcg_at_2"] == pytest.approx(0.5 * ideal / ideal)


def test_genre_profile_is_the_cosine_of_mean_genre_vectors():
    frame = pd.DataFrame({"user_id": ["u", "u"], "item_id": ["1", "2"]})
    items = pd.DataFrame(
        {"genres": [["Horror"], ["Horror", "Comedy"], ["Comedy"]]}, index=["1", "2", "3"]
    )
    train = interactions_from_frame(frame, items=Vocabulary(["1", "2", "3"]))
    scorer = coldstart.GenreProfile(train, items)

    scores = scorer.score(UserBatch(np.array([0]), train.matrix()[[0]]))

    profile = np.array([0.5, 1.0])  # (Comedy, Horror): mean of (0, 1) and (1, 1)
    flags = np.array([[0, 1], [1, 1], [1, 0]]) / np.array([[1], [np.sqrt(2)], [1]])
    expected = flags @ profile / np.linalg.norm(profile)
    np.testing.assert_allclose(scores[0], expected, rtol=1e-6)


# --- new raters ---------------------------------------------------------------------------------


def test_new_raters_reveal_the_earliest_interactions_with_ties_in_file_order():
    frame = pd.DataFrame(
        {
            "user_id": ["a"] * 4 + ["b"] * 2,
            "item_id": ["1", "2", "3", "4", "1", "2"],
            "timestamp": [30, 10, 10, 20, 5, 5],
        }
    )

    split = coldstart.new_raters_split(frame, fraction=0.5, reveal=(0, 1, 2), seed=1)

    held = split.raters[0]
    order = split.held_out[split.held_out["user_id"] == held]["item_id"].tolist()
    assert order == (["2", "3", "4", "1"] if held == "a" else ["1", "2"])
    assert split.revealed(1)["position"].max() == 0
    assert (split.test()["position"] >= 2).all()
    assert not set(split.train["user_id"]) & set(split.raters)


def test_new_raters_batch_is_cold_with_the_revealed_history_and_attributes():
    frame, _ = taste_frame()
    split = coldstart.new_raters_split(frame, fraction=0.2, reveal=(0, 2), seed=42)
    train = interactions_from_frame(split.train)
    features = pd.DataFrame({"age": range(20)}, index=[str(u) for u in range(1, 21)])

    batch = coldstart.new_raters_batch(train, split.revealed(2), split.raters, features)

    assert (batch.user_idx == -1).all()
    assert batch.history.shape == (len(split.raters), train.n_items)
    assert (np.diff(batch.history.indptr) == 2).all()
    assert batch.user_features["age"].tolist() == [int(r) - 1 for r in split.raters]


def test_evaluate_new_raters_reports_each_revealed_count_on_the_same_targets():
    frame, _ = taste_frame()
    split = coldstart.new_raters_split(frame, fraction=0.2, reveal=(0, 1, 3), seed=42)
    train = interactions_from_frame(split.train)
    popularity = Popularity()
    popularity.fit(train)

    results = coldstart.evaluate_new_raters(popularity, train, split)

    assert sorted(results) == [0, 1, 3]
    assert {r["users"] for r in results.values()} == {len(split.raters)}
    assert all(0.0 <= r["ndcg_at_10"] <= 1.0 for r in results.values())


# --- pipeline -----------------------------------------------------------------------------------


def test_pipeline_runs_the_cold_start_protocols():
    frame, items = taste_frame()
    users = pd.DataFrame({"gender": ["F", "M"] * 10}, index=[str(u) for u in range(1, 21)])

    new_items = run_protocol(frame, "popularity", protocol="new-items", item_features=items)
    new_raters = run_protocol(
        frame, "popularity", protocol="new-raters", item_features=items, user_features=users
    )

    assert new_items.metrics["candidates"] == 2
    assert {"reveal0_ndcg_at_10", "reveal5_hit_rate_at_10"} <= set(new_raters.metrics)


def test_new_items_protocol_needs_item_features():
    frame, _ = taste_frame()
    with pytest.raises(ConfigError) as caught:
        run_protocol(frame, "popularity", protocol="new-items")
    assert caught.value.field == "item_features"
