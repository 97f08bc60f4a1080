"""GRU4Rec-specific checks on synthetic sequences with a known next item.

Every user walks a cycle of 20 items from a random start, half of them upwards (after item k
comes k + 1 mod 20) and half downwards (k - 1), so the right next item is known exactly and the
same set of items calls for different next items depending on its order: a model that ignored
the order (a bag of items) could not get it right.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import torch

from recommender.algorithms.base import ConfigError, TrainOptions
from recommender.algorithms.gru4rec import GRU4Rec, GRU4RecConfig
from recommender.data import Interactions, UserBatch, interactions_from_frame, user_batch

N_ITEMS, N_USERS = 20, 60
DAY = 86_400  # steps a day apart, so no model treats them as simultaneous
FAST = {"hidden": 16, "gru_hidden": 32, "dropout": 0.0, "epochs": 40, "lr": 0.01, "patience": 0}


def cycle_frame(seed: int = 0) -> pd.DataFrame:
    """Users walking the cycle of 20 items from random starts, 4-12 daily steps each.

    Even users go upwards (0 → 1 → … → 19 → 0), odd users downwards.
    """
    rng = np.random.default_rng(seed)
    rows = []
    for user in range(N_USERS):
        start, length = rng.integers(N_ITEMS), rng.integers(4, 13)
        step = 1 if user % 2 == 0 else -1
        for position in range(length):
            item = (start + step * position) % N_ITEMS
            rows.append((f"u{user:02d}", f"i{item:02d}", 4.0, position * DAY))
    return pd.DataFrame(rows, columns=["user_id", "item_id", "value", "timestamp"])


def next_item(sequence: np.ndarray) -> int:
    """The item that continues a walk of at least two items in its direction."""
    step = 1 if (sequence[-1] - sequence[-2]) % N_ITEMS == 1 else -1
    return int((sequence[-1] + step) % N_ITEMS)


def batch_of(sequences: list[list[int]], n_items: int = N_ITEMS) -> UserBatch:
    """A batch of unseen users with the given item sequences (and matching history)."""
    rows = np.repeat(np.arange(len(sequences)), [len(s) for s in sequences])
    cols = np.concatenate([np.asarray(s, dtype=np.int64) for s in sequences] + [np.empty(0, int)])
    history = sp.csr_matrix((np.ones(len(cols)), (rows, cols)), shape=(len(sequences), n_items))
    return UserBatch(np.full(len(sequences), -1), history, [np.asarray(s) for s in sequences])


@pytest.fixture(scope="module")
def cycle() -> tuple[GRU4Rec, Interactions]:
    data = interactions_from_frame(cycle_frame())
    model = GRU4Rec(GRU4RecConfig.from_dict(FAST))
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

    # the same items in the other order: the direction decides what comes next
    upwards, _ = model.recommend(batch_of([[3, 4, 5]]), n=1)
    downwards, _ = model.recommend(batch_of([[5, 4, 3]]), n=1)

    assert (upwards[0, 0], downwards[0, 0]) == (6, 2)


def test_scores_depend_only_on_the_latest_max_len_items():
    data = interactions_from_frame(cycle_frame())
    model = GRU4Rec(GRU4RecConfig.from_dict({**FAST, "max_len": 3, "epochs": 2}))
    model.fit(data, TrainOptions(seed=0))

    long = model.score(batch_of([[0, 1, 2, 3, 4, 5]]))
    latest = model.score(batch_of([[3, 4, 5]]))

    np.testing.assert_allclose(long, latest, rtol=1e-6)


def test_state_at_a_position_ignores_later_items(cycle):
    model, _ = cycle
    tokens = torch.tensor([[1, 2, 3, 4, 5, 6]])
    changed = torch.tensor([[1, 2, 3, 9, 9, 9]])

    with torch.no_grad():
        states, other = model.net.encode(tokens), model.net.encode(changed)

    torch.testing.assert_close(states[:, :3], other[:, :3])
    assert not torch.allclose(states[:, 3:], other[:, 3:])


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
    ("field", "value"), [("gru_hidden", 0), ("layers", 0), ("exclude", "all"), ("max_len", 0)]
)
def test_config_rejects(field, value):
    with pytest.raises(ConfigError) as caught:
        GRU4RecConfig.from_dict({field: value})

    assert caught.value.field == field
