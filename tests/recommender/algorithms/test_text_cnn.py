"""TextCNN: cold items are ranked from their content, and their ids never reach the score."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from recommender.algorithms.base import ConfigError, TrainOptions
from recommender.algorithms.text_cnn import TextCNN, TextCNNConfig, tokenize
from recommender.data import Vocabulary, interactions_from_frame, user_batch

CONFIG = TextCNNConfig(
    factors=8, token_dim=8, channels=8, epochs=30, batch_size=256, lr=0.05, id_dropout=0.5
)
CONTENT = {
    "a": ("Blood Night of the Dead ({year})", ["Horror"]),
    "b": ("Happy Laugh Party ({year})", ["Comedy"]),
}
WARM, COLD, USERS = 8, 2, 12


def content(group: str, number: int) -> tuple[str, list[str]]:
    title, genres = CONTENT[group]
    return title.format(year=1990 + number), genres


def taste_data(cold_order: list[int] | None = None):
    """Two taste groups over warm items ``a0..a7``/``b0..b7``; cold items ``c0..c3`` have no
    interactions. ``cold_order`` permutes which cold id carries which cold content."""
    rows = [
        (f"{g}u{u:02d}", f"{g}{i}")
        for g in "ab"
        for u in range(USERS)
        for i in range(WARM)
        if (u + i) % 4
    ]
    frame = pd.DataFrame(rows, columns=["user_id", "item_id"])
    cold_contents = [content(g, WARM + n) for g in "ab" for n in range(COLD)]
    order = cold_order or list(range(len(cold_contents)))
    records = {f"{g}{i}": content(g, i) for g in "ab" for i in range(WARM)}
    records |= {f"c{n}": cold_contents[order[n]] for n in range(len(cold_contents))}
    items = pd.DataFrame.from_dict(records, orient="index", columns=["title", "genres"])
    vocabulary = Vocabulary.from_values(items.index)
    data = interactions_from_frame(frame, items=vocabulary)
    return replace(data, item_features=items), cold_contents, order


def fitted(cold_order: list[int] | None = None):
    data, cold_contents, order = taste_data(cold_order)
    model = TextCNN(CONFIG)
    model.fit(data, TrainOptions(seed=3, threads=1))
    return model, data, cold_contents, order


@pytest.fixture(scope="module")
def model_and_data():
    return fitted()


def test_tokenizer_splits_words_and_the_release_year():
    assert tokenize("Usual Suspects, The (1995)") == [
        "<item>", "<year:1995>", "<decade:1990>", "usual", "suspects", "the",
    ]  # fmt: skip
    assert tokenize("Café", "A short plot.")[1:] == ["cafe", "<description>", "a", "short", "plot"]


def test_cold_item_whose_content_matches_a_taste_group_is_ranked_for_it(model_and_data):
    model, data, _, _ = model_and_data
    cold = data.items.indices([f"c{n}" for n in range(2 * COLD)])
    users = np.arange(data.n_users)

    scores = model.score(user_batch(data, users))[:, cold]

    # c0, c1 carry horror content, c2, c3 comedy; users "a..." like horror
    best = scores.argmax(axis=1)
    group_a = np.array([uid.startswith("a") for uid in data.users.ids()])
    assert (best[group_a] < COLD).mean() >= 0.9
    assert (best[~group_a] >= COLD).mean() >= 0.9


def test_cold_scores_come_from_content_alone(model_and_data):
    model, data, _, _ = model_and_data
    cold_ids = [f"c{n}" for n in range(2 * COLD)]
    batch = user_batch(data, np.arange(data.n_users))

    from_index = model.score(batch)[:, data.items.indices(cold_ids)]
    from_content = model.score_content(batch, data.item_features.loc[cold_ids])

    np.testing.assert_allclose(from_index, from_content, rtol=1e-5, atol=1e-6)


def test_permuting_cold_item_ids_does_not_change_the_score_of_their_content():
    first, data, _, order_1 = fitted()
    second, _, _, order_2 = fitted(cold_order=[3, 2, 0, 1])
    batch = user_batch(data, np.arange(data.n_users))
    scores_1, scores_2 = first.score(batch), second.score(batch)

    for number in range(2 * COLD):  # each cold content, wherever its id went
        index_1 = data.items.index_of(f"c{order_1.index(number)}")
        index_2 = data.items.index_of(f"c{order_2.index(number)}")
        np.testing.assert_allclose(scores_1[:, index_1], scores_2[:, index_2], rtol=1e-5, atol=1e-6)


def test_without_item_features_it_still_trains_and_scores():
    data, _, _ = taste_data()
    model = TextCNN(CONFIG)
    model.fit(replace(data, item_features=None), TrainOptions(seed=0, threads=1, dry_run=True))

    scores = model.score(user_batch(data, np.arange(3)))

    assert scores.shape == (3, data.n_items)
    assert np.isfinite(scores).all()


def test_state_round_trip_keeps_content_scoring(model_and_data):
    model, data, _, _ = model_and_data
    batch = user_batch(data, np.arange(4))
    features = pd.DataFrame({"title": ["Blood Dead (1999)"], "genres": [["Horror"]]}, index=["x"])

    loaded = TextCNN.from_state(model.config, model.get_state())

    np.testing.assert_array_equal(loaded.score(batch), model.score(batch))
    np.testing.assert_array_equal(
        loaded.score_content(batch, features), model.score_content(batch, features)
    )


@pytest.mark.parametrize(
    ("values", "field"), [({"id_dropout": 1.5}, "id_dropout"), ({"max_kernel": 0}, "max_kernel")]
)
def test_config_validation(values, field):
    with pytest.raises(ConfigError) as caught:
        TextCNNConfig.from_dict(values)
    assert caught.value.field == field
