"""LightGCN: the graph normalisation, the propagation, the sparse gradient and the fold-in."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import torch

from recommender.algorithms.base import ConfigError, TrainOptions
from recommender.algorithms.lightgcn import (
    LightGCN,
    LightGCNConfig,
    LightGCNNet,
    _SymmetricSpMM,
    _torch_csr,
    normalised_adjacency,
)
from recommender.data import UserBatch, interactions_from_frame, user_batch

# 3 users x 3 items: u0 has i0, i1; u1 has i1; u2 has i2.
PAIRS = [("u0", "i0"), ("u0", "i1"), ("u1", "i1"), ("u2", "i2")]


def tiny():
    return interactions_from_frame(pd.DataFrame(PAIRS, columns=["user_id", "item_id"]))


def blocks():
    """Two blocks of 10 users over 6 items each; every user misses a few of their block."""
    rows = [
        (f"{g}u{u}", f"{g}i{i}") for g in "ab" for u in range(10) for i in range(6) if (u + i) % 3
    ]
    return interactions_from_frame(pd.DataFrame(rows, columns=["user_id", "item_id"]))


def test_adjacency_is_the_symmetric_normalisation_of_the_bipartite_graph():
    adjacency = normalised_adjacency(tiny()).toarray()

    # node order: u0, u1, u2, i0, i1, i2; degrees 2, 1, 1, 1, 2, 1
    assert adjacency[0, 3] == pytest.approx(1 / np.sqrt(2 * 1))
    assert adjacency[0, 4] == pytest.approx(1 / np.sqrt(2 * 2))
    assert adjacency[1, 4] == pytest.approx(1 / np.sqrt(1 * 2))
    assert adjacency[2, 5] == pytest.approx(1.0)
    np.testing.assert_allclose(adjacency, adjacency.T)
    assert adjacency[:3, :3].sum() == adjacency[3:, 3:].sum() == 0


def test_final_embeddings_are_the_mean_of_the_propagated_layers():
    data = tiny()
    torch.manual_seed(0)
    net = LightGCNNet(3, 3, 4)
    adjacency = normalised_adjacency(data)

    layers = net.propagate(_torch_csr(adjacency, torch.device("cpu")), 2)

    ego = torch.cat([net.user.weight, net.item.weight]).detach().numpy()
    expected = (ego + adjacency @ ego + adjacency @ (adjacency @ ego)) / 3
    np.testing.assert_allclose(torch.stack(layers).mean(0).detach(), expected, rtol=1e-5)


def test_symmetric_sparse_product_has_the_dense_gradient():
    dense = torch.tensor(normalised_adjacency(tiny()).toarray(), dtype=torch.float64)
    matrix = dense.to_sparse_csr()
    x = torch.randn(6, 2, dtype=torch.float64, requires_grad=True)

    (_SymmetricSpMM.apply(matrix, x) ** 2).sum().backward()
    grad = x.grad.clone()
    x.grad = None
    ((dense @ x) ** 2).sum().backward()

    np.testing.assert_allclose(grad, x.grad)


@pytest.fixture(scope="module")
def block_model():
    data = blocks()
    model = LightGCN(LightGCNConfig(factors=8, layers=2, epochs=30, batch_size=256, lr=0.05))
    model.fit(data, TrainOptions(seed=0, threads=1))
    return model, data


def test_a_new_user_is_folded_in_from_their_history(block_model):
    model, data = block_model
    history = sp.lil_matrix((1, data.n_items), dtype=np.float32)
    for item in data.items.indices(["bi0", "bi1", "bi2"]):
        history[0, item] = 1.0

    top, _ = model.recommend(UserBatch(np.array([-1]), history.tocsr()), n=3)

    assert all(name.startswith("bi") for name in data.items.ids(top[0]))


def test_a_new_user_without_history_scores_zero(block_model):
    model, data = block_model

    scores = model.score(UserBatch(np.array([-1]), sp.csr_matrix((1, data.n_items))))

    assert (scores == 0).all()


def test_known_users_are_ranked_within_their_block(block_model):
    model, data = block_model

    top, _ = model.recommend(user_batch(data, np.arange(data.n_users)), n=1)

    blocks_of = lambda ids: [name[0] for name in ids]  # noqa: E731
    assert blocks_of(data.items.ids(top[:, 0])) == blocks_of(data.users.ids())


def test_config_validation():
    with pytest.raises(ConfigError) as caught:
        LightGCNConfig.from_dict({"layers": -1})
    assert caught.value.field == "layers"
