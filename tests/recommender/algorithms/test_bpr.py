"""BPR-MF specifics: it learns group structure, folds in new users, and checks its config."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import torch

from recommender.algorithms.base import ConfigError, TrainOptions
from recommender.algorithms.bpr import BPRMF, BPRConfig
from recommender.data import UserBatch, interactions_from_frame, user_batch

GROUPS, USERS, ITEMS = 2, 10, 8


@pytest.fixture(scope="module")
def groups():
    """Users of group g like g's items only; each misses one of them (its right answer)."""
    rows = [
        (f"u{g}_{u}", f"i{g}_{i}")
        for g in range(GROUPS)
        for u in range(USERS)
        for i in range(ITEMS)
        if i != u % ITEMS
    ]
    return interactions_from_frame(pd.DataFrame(rows, columns=["user_id", "item_id"]))


@pytest.fixture(scope="module")
def fitted(groups):
    model = BPRMF(BPRConfig.from_dict(BPRMF.contract_config))
    model.fit(groups, TrainOptions(seed=0))
    return model


def _group_of_items(data, items):
    return np.array([int(item_id[1]) for item_id in data.items.ids(items.ravel())]).reshape(
        items.shape
    )


def test_recommends_items_of_the_users_group(groups, fitted):
    users = np.arange(groups.n_users)

    top, _ = fitted.recommend(user_batch(groups, users), n=1)

    user_groups = np.array([int(user_id[1]) for user_id in groups.users.ids(users)])
    assert (_group_of_items(groups, top)[:, 0] == user_groups).all()


def test_unknown_user_is_folded_in_from_their_history(groups, fitted):
    # given a new user who rated three items of group 1
    liked = groups.items.indices(["i1_0", "i1_1", "i1_2"])
    history = sp.csr_matrix((np.ones(3), (np.zeros(3), liked)), shape=(1, groups.n_items))

    # when
    top, _ = fitted.recommend(UserBatch(np.array([-1]), history), n=3)

    # then the list is personal: group 1's remaining items
    assert (_group_of_items(groups, top) == 1).all()
    assert set(top[0]).isdisjoint(liked)


def test_fold_in_is_deterministic_and_leaves_known_users_alone(groups, fitted):
    batch = user_batch(groups, np.array([0, 1]))
    mixed = UserBatch(np.array([0, -1]), batch.history)

    first, second = fitted.score(mixed), fitted.score(mixed)

    np.testing.assert_array_equal(first, second)
    np.testing.assert_array_equal(first[0], fitted.score(batch)[0])


def test_unknown_user_without_history_gets_item_bias_order(groups, fitted):
    empty = sp.csr_matrix((1, groups.n_items), dtype=np.float32)

    scores = fitted.score(UserBatch(np.array([-1]), empty))

    expected = fitted.net.item_bias.weight[:, 0].detach().numpy()
    np.testing.assert_allclose(scores[0], expected, rtol=1e-6)


def test_the_best_scored_candidate_is_the_negative(groups, fitted):
    users = np.arange(4)
    candidates = np.tile(np.arange(groups.n_items), (4, 1))
    factors = fitted.net.user.weight[users]

    chosen = fitted._hardest(factors, torch.as_tensor(candidates))

    scores = fitted.score(user_batch(groups, users))
    np.testing.assert_array_equal(chosen.numpy(), scores.argmax(1))


@pytest.mark.parametrize(
    ("field", "value"),
    [("factors", 0), ("negatives", 0), ("lr", 0.0), ("reg", -0.1), ("batch_size", 0)],
)
def test_config_rejects_out_of_range_values(field, value):
    with pytest.raises(ConfigError) as caught:
        BPRConfig.from_dict({field: value})

    assert caught.value.field == field
