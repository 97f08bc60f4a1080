"""SideFeatures: a new rater known only by attributes gets their attribute group's items."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from recommender.algorithms.base import ConfigError, TrainOptions
from recommender.algorithms.side_features import (
    SideFeatures,
    SideFeaturesConfig,
    item_token_lists,
    user_token_lists,
)
from recommender.data import UserBatch, interactions_from_frame, user_batch

CONFIG = SideFeaturesConfig(factors=8, epochs=30, batch_size=256, lr=0.05, min_count=2)
ITEMS, USERS = 8, 12
# Group A (young women, artists) likes items a0..a7, group B (older men, engineers) b0..b7.
PROFILE = {"a": (22, "F", "artist"), "b": (50, "M", "engineer")}


def taste_data():
    rows = [
        (f"{g}u{u:02d}", f"{g}{i}")
        for g in "ab"
        for u in range(USERS)
        for i in range(ITEMS)
        if (u + i) % 3
    ]
    # Group B's items are a little more popular, so popularity alone ranks them first.
    rows += [(f"au{u:02d}", f"b{u % ITEMS}") for u in range(USERS)]
    data = interactions_from_frame(pd.DataFrame(rows, columns=["user_id", "item_id"]))
    users = pd.DataFrame(
        [PROFILE[uid[0]] for uid in data.users.ids()],
        index=data.users.ids(),
        columns=["age", "gender", "occupation"],
    )
    items = pd.DataFrame(
        {"genres": [["Horror"] if iid[0] == "a" else ["Comedy"] for iid in data.items.ids()]},
        index=data.items.ids(),
    )
    return replace(data, user_features=users, item_features=items)


@pytest.fixture(scope="module")
def model_and_data():
    data = taste_data()
    model = SideFeatures(CONFIG)
    model.fit(data, TrainOptions(seed=1, threads=1))
    return model, data


def new_raters(data, profiles: list[tuple[int, str, str]]) -> UserBatch:
    features = pd.DataFrame(profiles, columns=["age", "gender", "occupation"])
    history = sp.csr_matrix((len(profiles), data.n_items), dtype=np.float32)
    return UserBatch(np.full(len(profiles), -1), history, None, features)


def test_new_rater_with_group_attributes_gets_group_items_first(model_and_data):
    model, data = model_and_data

    top, _ = model.recommend(new_raters(data, [PROFILE["a"], PROFILE["b"]]), n=4)

    names = [data.items.ids(row) for row in top]
    assert all(name.startswith("a") for name in names[0])
    assert all(name.startswith("b") for name in names[1])


def test_new_rater_without_attributes_gets_the_popular_items(model_and_data):
    model, data = model_and_data
    batch = new_raters(data, [(np.nan, None, None)])

    top, _ = model.recommend(replace(batch, user_features=None), n=4)

    assert all(name.startswith("b") for name in data.items.ids(top[0]))


def test_revealed_history_moves_a_new_rater_towards_it(model_and_data):
    model, data = model_and_data
    batch = new_raters(data, [PROFILE["b"]])
    history = sp.lil_matrix(batch.history.shape, dtype=np.float32)
    for item in data.items.indices(["a0", "a1", "a2", "a3"]):
        history[0, item] = 1.0

    cold = model.score(batch)[0]
    informed = model.score(replace(batch, history=history.tocsr()))[0]

    horror = data.items.indices([f"a{i}" for i in range(4, ITEMS)])
    comedy = data.items.indices([f"b{i}" for i in range(ITEMS)])
    gap = lambda scores: scores[horror].mean() - scores[comedy].mean()  # noqa: E731
    assert gap(informed) > gap(cold)


def test_known_raters_keep_their_stored_attributes_after_a_state_round_trip(model_and_data):
    model, data = model_and_data
    batch = user_batch(data, np.arange(data.n_users))

    loaded = SideFeatures.from_state(model.config, model.get_state())

    np.testing.assert_array_equal(loaded.score(batch), model.score(batch))
    cold = new_raters(data, [PROFILE["a"]])
    np.testing.assert_array_equal(loaded.score(cold), model.score(cold))


def test_attribute_tokens():
    users = pd.DataFrame({"age": [20, 60, np.nan], "gender": ["F", "M", None]})
    items = pd.DataFrame({"title": ["X (1994)", None], "genres": [["Drama", "War"], []]})

    user_tokens = user_token_lists(users, {"age": [30.0]}, ["gender"])
    item_tokens = item_token_lists(items, 2)

    assert user_tokens == [
        ["<user>", "age#0", "gender=F"],
        ["<user>", "age#1", "gender=M"],
        ["<user>"],
    ]
    assert item_tokens == [["<item>", "genre=Drama", "genre=War", "decade=1990"], ["<item>"]]


@pytest.mark.parametrize(
    ("values", "field"),
    [({"loss": "hinge"}, "loss"), ({"user_id_dropout": 2.0}, "user_id_dropout")],
)
def test_config_validation(values, field):
    with pytest.raises(ConfigError) as caught:
        SideFeaturesConfig.from_dict(values)
    assert caught.value.field == field
