"""The contract every registered algorithm meets (DESIGN.md, convention 7).

The suite is parametrised over ``ALGORITHMS``, so a new registry line brings its model in. A model
class may set two optional attributes for it (see ``Recommender``'s docstring):

- ``contract_config``: hyper-parameters that train it quickly on the tiny data set here;
- ``contract_invalid_config``: one bad hyper-parameter, e.g. ``{"epochs": 0}``. Without it the
  suite tries -1 for each numeric field and expects at least one to be rejected.

The data set has a known answer. Eight "core" items are liked by every user except one core item
per user; users also like the four items of their own block (three blocks of eight users). The
one item a user is missing, their core item, is both the most popular candidate and the one that
co-occurs with everything they like, and core items are rated 5 where block items get 4, so
every sensible model, ranking or rating, puts it first.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from recommender.algorithms import ALGORITHMS, UnknownAlgorithm, get_algorithm
from recommender.algorithms.base import ConfigError, Recommender, TrainOptions
from recommender.artifacts import load_artifact, save_artifact
from recommender.data import Interactions, UserBatch, interactions_from_frame, user_batch

N_CORE, N_BLOCKS, BLOCK_ITEMS, BLOCK_USERS = 8, 3, 4, 8
# The share of users whose top-1 must be their known answer: 1.0 for the closed-form models,
# a little slack for stochastic trainers on 24 users.
KNOWN_ANSWER_SHARE = 0.9


def known_answer_frame() -> tuple[pd.DataFrame, dict[str, str]]:
    rows, answers = [], {}
    for user in range(N_BLOCKS * BLOCK_USERS):
        user_id, block = f"u{user:02d}", user // BLOCK_USERS
        missing = user % N_CORE
        answers[user_id] = f"core{missing}"
        liked = [f"core{c}" for c in range(N_CORE) if c != missing]
        liked += [f"b{block}_{i}" for i in range(BLOCK_ITEMS)]
        rows += [(user_id, item) for item in liked]
    frame = pd.DataFrame(rows, columns=["user_id", "item_id"])
    frame["value"] = np.where(frame["item_id"].str.startswith("core"), 5.0, 4.0)
    frame["timestamp"] = np.arange(len(frame)) * 60
    return frame, answers


@dataclass
class Fitted:
    model: Recommender
    data: Interactions
    answers: np.ndarray  # the known right item index per user
    epochs: list[tuple[int, dict[str, float]]]


def contract_config(model_class: type[Recommender]) -> Any:
    return model_class.config_class.from_dict(getattr(model_class, "contract_config", {}))


@pytest.fixture(scope="module", params=sorted(ALGORITHMS))
def fitted(request) -> Fitted:
    model_class = ALGORITHMS[request.param]
    frame, answers = known_answer_frame()
    data = interactions_from_frame(frame)
    epochs: list[tuple[int, dict[str, float]]] = []
    model = model_class(contract_config(model_class))
    model.fit(
        data,
        TrainOptions(dry_run=False, seed=0),
        on_epoch=lambda epoch, values: epochs.append((epoch, values)),
    )
    right = data.items.indices([answers[user] for user in data.users.ids()])
    return Fitted(model, data, right, epochs)


def all_users(fitted: Fitted) -> UserBatch:
    return user_batch(fitted.data, np.arange(fitted.data.n_users))


# --- registry -------------------------------------------------------------------------------------


@pytest.mark.parametrize("key", sorted(ALGORITHMS))
def test_registry_key_is_the_model_name(key):
    model_class = ALGORITHMS[key]
    assert model_class.name == key
    assert get_algorithm(key) is model_class


def test_unknown_algorithm_lists_the_known_names():
    with pytest.raises(UnknownAlgorithm) as caught:
        get_algorithm("no-such-model")

    assert isinstance(caught.value, KeyError)
    assert "no-such-model" in str(caught.value)
    assert all(name in str(caught.value) for name in ALGORITHMS)


# --- fitted behaviour -----------------------------------------------------------------------------


def test_score_shape_and_dtype(fitted):
    scores = fitted.model.score(all_users(fitted))

    assert scores.shape == (fitted.data.n_users, fitted.data.n_items)
    assert scores.dtype == np.float32
    assert np.isfinite(scores).all()


def test_recommend_excludes_history(fitted):
    batch = all_users(fitted)

    items, scores = fitted.model.recommend(batch, n=5)

    assert items.shape == scores.shape == (fitted.data.n_users, 5)
    for row, history in enumerate(batch.history.tolil().rows):
        assert set(items[row]).isdisjoint(history)


def test_recommends_the_known_right_item(fitted):
    items, _ = fitted.model.recommend(all_users(fitted), n=1)

    share = np.mean(items[:, 0] == fitted.answers)
    assert share >= KNOWN_ANSWER_SHARE, f"right item first for {share:.0%} of users"


def test_save_load_round_trip_gives_identical_scores(fitted, tmp_path):
    path = tmp_path / "model.pt"
    save_artifact(fitted.model, fitted.data.users, fitted.data.items, path)

    loaded = load_artifact(path)

    assert type(loaded.model) is type(fitted.model)
    assert loaded.config == fitted.model.config
    assert loaded.items == fitted.data.items
    batch = all_users(fitted)
    np.testing.assert_array_equal(loaded.model.score(batch), fitted.model.score(batch))


def test_epochs_are_reported_from_one_upwards(fitted):
    iterative = "epochs" in {f.name for f in fields(fitted.model.config)}
    if iterative:
        assert fitted.epochs, "an iterative model reports every epoch to on_epoch"
    numbers = [epoch for epoch, _ in fitted.epochs]
    assert numbers == list(range(1, len(numbers) + 1))
    for _, values in fitted.epochs:
        assert all(isinstance(name, str) and np.isfinite(v) for name, v in values.items())


def test_history_models_score_an_unseen_user_from_their_history(fitted):
    if not fitted.model.uses_history:
        return
    batch = all_users(fitted)
    cold = UserBatch(np.full(len(batch), -1), batch.history, batch.sequences)

    np.testing.assert_allclose(fitted.model.score(cold), fitted.model.score(batch), rtol=1e-6)


def test_history_models_react_to_a_new_rating(fitted):
    if not fitted.model.uses_history:
        return
    batch = user_batch(fitted.data, np.array([0]))
    grown = batch.history.toarray()
    grown[0, fitted.answers[0]] = 1.0

    after = fitted.model.score(UserBatch(batch.user_idx, sp.csr_matrix(grown), None))

    assert not np.allclose(after, fitted.model.score(batch))


# --- configuration --------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(ALGORITHMS))
def test_config_round_trips_through_a_dict(name):
    model_class = ALGORITHMS[name]
    config = model_class.config_class()

    assert model_class.config_class.from_dict(config.to_dict()) == config


@pytest.mark.parametrize("name", sorted(ALGORITHMS))
def test_config_rejects_an_unknown_key(name):
    model_class = ALGORITHMS[name]
    with pytest.raises(ConfigError) as caught:
        model_class.config_class.from_dict({"no_such_option": 1})

    assert caught.value.field == "no_such_option"


@pytest.mark.parametrize("name", sorted(ALGORITHMS))
def test_config_rejects_a_bad_value_naming_the_field(name):
    model_class = ALGORITHMS[name]
    invalid = getattr(model_class, "contract_invalid_config", None)
    if invalid:
        with pytest.raises(ConfigError) as caught:
            model_class.config_class.from_dict(invalid)
        assert caught.value.field in invalid
        return
    rejected = []
    for field in fields(model_class.config_class):
        if str(field.type) in {"int", "float"}:
            try:
                model_class.config_class.from_dict({field.name: -1})
            except ConfigError as error:
                rejected.append((field.name, error.field))
    assert rejected, "no numeric hyper-parameter rejects -1; set contract_invalid_config"
    assert all(name == named for name, named in rejected), "the error names the field"
