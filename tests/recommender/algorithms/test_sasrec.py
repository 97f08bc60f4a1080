"""SASRec-specific checks on synthetic sequences with a known next item.

Every user walks a cycle of 20 items from a random start, upwards or downwards, so the right
next item is known exactly and depends on the order; ``test_gru4rec.py`` builds the data.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from recommender.algorithms.base import ConfigError, TrainOptions
from recommender.algorithms.sasrec import SASRec, SASRecConfig
from recommender.data import Interactions, UserBatch, interactions_from_frame, user_batch
from tests.recommender.algorithms.test_gru4rec import N_ITEMS, batch_of, cycle_frame, next_item

FAST = {"hidden": 16, "blocks": 1, "heads": 1, "dropout": 0.0, "epochs": 40, "lr": 0.01}


@pytest.fixture(scope="module")
def cycle() -> tuple[SASRec, Interactions]:
    data = interactions_from_frame(cycle_frame())
    model = SASRec(SASRecConfig.from_dict({**FAST, "patience": 0}))
    model.fit(data, TrainOptions(seed=0))
    return model, data


def test_learns_the_next_item_of_a_cycle(cycle):
    model, data = cycle
    batch = user_batch(data, np.arange(data.n_users))

    top, _ = model.recommend(batch, n=1)

    expected = [next_item(sequence) for sequence in batch.sequences]
    assert np.mean(top[:, 0] == expected) >= 0.9


def test_a_new_item_in_the_history_changes_the_top_item_at_once(cycle):
    model, _ = cycle

    before, _ = model.recommend(batch_of([[3, 4, 5]]), n=1)
    after, _ = model.recommend(batch_of([[3, 4, 5, 6]]), n=1)

    assert (before[0, 0], after[0, 0]) == (6, 7)


def test_the_order_of_the_history_matters(cycle):
    model, _ = cycle

    upwards, _ = model.recommend(batch_of([[3, 4, 5]]), n=1)
    downwards, _ = model.recommend(batch_of([[5, 4, 3]]), n=1)

    assert (upwards[0, 0], downwards[0, 0]) == (6, 2)


def test_causal_mask_hides_later_items():
    # given an untrained two-block, two-head network (the mask matters before any training)
    torch.manual_seed(0)
    net = SASRec(SASRecConfig(max_len=8, hidden=16, blocks=2, heads=2)).build_net(N_ITEMS).eval()
    tokens = torch.tensor([[1, 2, 3, 4, 5, 6]])
    # Same length, so recency positions match; only the items after position 3 differ.
    changed = torch.tensor([[1, 2, 3, 9, 8, 7]])

    with torch.no_grad():
        states, other = net.encode(tokens), net.encode(changed)

    torch.testing.assert_close(states[:, :3], other[:, :3])
    assert not torch.allclose(states[:, 3], other[:, 3])


def test_scores_depend_only_on_the_latest_max_len_items():
    model = SASRec(SASRecConfig.from_dict({**FAST, "max_len": 3, "epochs": 2}))
    model.fit(interactions_from_frame(cycle_frame()), TrainOptions(seed=0))

    long = model.score(batch_of([[0, 1, 2, 3, 4, 5]]))
    latest = model.score(batch_of([[3, 4, 5]]))

    np.testing.assert_allclose(long, latest, rtol=1e-6)


def test_an_empty_history_gets_the_learned_item_bias(cycle):
    model, _ = cycle

    scores = model.score(batch_of([[]]))
    items, _ = model.recommend(batch_of([[]]), n=5)

    np.testing.assert_allclose(scores[0], model.net.bias.detach().numpy(), rtol=1e-6)
    assert items.shape == (1, 5)


def test_without_sequences_the_history_stands_in(cycle):
    model, _ = cycle
    batch = batch_of([[2, 5, 11]])

    without = model.score(UserBatch(batch.user_idx, batch.history, None))

    np.testing.assert_allclose(without, model.score(batch), rtol=1e-6)


@pytest.mark.parametrize(
    ("values", "field"),
    [({"heads": 3}, "heads"), ({"blocks": 0}, "blocks"), ({"dropout": 1.5}, "dropout")],
)
def test_config_rejects(values, field):
    with pytest.raises(ConfigError) as caught:
        SASRecConfig.from_dict(values)

    assert caught.value.field == field
