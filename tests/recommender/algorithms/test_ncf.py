"""NCF specifics: the three variants learn, NeuMF pre-training fuses its parts, every loss runs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import torch

from recommender.algorithms import ncf
from recommender.algorithms.base import ConfigError, TrainOptions
from recommender.algorithms.ncf import NCF, NCFConfig, NCFNet
from recommender.data import UserBatch, interactions_from_frame, user_batch

GROUPS, USERS, ITEMS = 2, 8, 6


@pytest.fixture(scope="module")
def groups():
    """Users of group g like g's items only; each misses one of them."""
    rows = [
        (f"u{g}_{u}", f"i{g}_{i}")
        for g in range(GROUPS)
        for u in range(USERS)
        for i in range(ITEMS)
        if i != u % ITEMS
    ]
    return interactions_from_frame(pd.DataFrame(rows, columns=["user_id", "item_id"]))


def _config(**overrides) -> NCFConfig:
    return NCFConfig.from_dict(NCF.contract_config | overrides)


def _fit(data, **overrides) -> NCF:
    model = NCF(_config(**overrides))
    model.fit(data, TrainOptions(seed=0))
    return model


def _item_groups(data, items: np.ndarray) -> np.ndarray:
    return np.array([int(i[1]) for i in data.items.ids(items.ravel())]).reshape(items.shape)


def _in_group_share(model, data) -> float:
    top, _ = model.recommend(user_batch(data, np.arange(data.n_users)), n=1)
    return float(np.mean(_item_groups(data, top)[:, 0] == np.repeat(np.arange(GROUPS), USERS)))


@pytest.fixture(scope="module")
def neumf(groups):
    return _fit(groups)


@pytest.mark.parametrize("variant", ["gmf", "mlp"])
def test_single_tower_variants_learn_the_groups(groups, variant):
    model = _fit(groups, variant=variant)

    assert _in_group_share(model, groups) >= 0.9


def test_neumf_learns_the_groups(groups, neumf):
    assert neumf.net.has_gmf
    assert neumf.net.has_mlp
    assert _in_group_share(neumf, groups) >= 0.9


def test_pretraining_fits_both_parts_then_fine_tunes_neumf(groups):
    model = _fit(groups, pretrain=True, pretrain_epochs=30, epochs=5, alpha=0.7)

    assert model.net.gmf_weight.item() == pytest.approx(0.7)
    assert _in_group_share(model, groups) >= 0.9


def test_fuse_copies_towers_and_mixes_outputs_with_alpha(groups):
    torch.manual_seed(0)
    gmf = NCFNet(5, 4, _config(variant="gmf"))
    mlp = NCFNet(5, 4, _config(variant="mlp"))
    neumf = NCFNet(5, 4, _config(variant="neumf"))

    ncf._fuse(neumf, gmf, mlp, alpha=0.25)

    assert torch.equal(neumf.gmf_user.weight, gmf.gmf_user.weight)
    assert torch.equal(neumf.mlp_item.weight, mlp.mlp_item.weight)
    assert torch.equal(neumf.mlp[0].weight, mlp.mlp[0].weight)
    assert torch.allclose(neumf.mlp_output.weight, 0.75 * mlp.mlp_output.weight)
    assert neumf.gmf_weight.item() == 0.25


@pytest.mark.parametrize("loss", ["softmax", "bce"])
def test_other_losses_train(groups, loss):
    model = _fit(groups, loss=loss, negatives=4, epochs=30, lr=0.05)

    assert _in_group_share(model, groups) >= 0.9


def test_unknown_user_is_folded_in_from_their_history(groups, neumf):
    liked = groups.items.indices(["i1_0", "i1_1", "i1_2"])
    history = sp.csr_matrix((np.ones(3), (np.zeros(3), liked)), shape=(1, groups.n_items))

    top, _ = neumf.recommend(UserBatch(np.array([-1]), history), n=3)

    assert (_item_groups(groups, top) == 1).all()


def test_scoring_in_chunks_gives_the_same_scores(groups, neumf, monkeypatch):
    batch = user_batch(groups, np.arange(groups.n_users))
    whole = neumf.score(batch)
    monkeypatch.setattr(ncf, "SCORE_CHUNK_ELEMENTS", 1)

    np.testing.assert_allclose(neumf.score(batch), whole, rtol=1e-5, atol=1e-6)


def test_pair_and_diagonal_scores_agree(neumf):
    net = neumf.net
    users = torch.arange(3)
    items = torch.tensor([1, 4, 2])

    grid = net.pair_scores(net.user_params(users), items)
    diagonal = net.diagonal_scores(net.user_params(users), items)

    torch.testing.assert_close(torch.diagonal(grid), diagonal)


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"variant": "deep"}, "variant"),
        ({"loss": "hinge"}, "loss"),
        ({"variant": "gmf", "pretrain": True}, "pretrain"),
        ({"alpha": 1.5}, "alpha"),
        ({"mlp_layers": 0}, "mlp_layers"),
    ],
)
def test_config_rejects_bad_values(values, field):
    with pytest.raises(ConfigError) as caught:
        NCFConfig.from_dict(values)

    assert caught.value.field == field
