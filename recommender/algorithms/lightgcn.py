"""LightGCN: embeddings smoothed over the rater–item graph (He et al., SIGIR 2020).

The ego embeddings ``E0`` (one row per user, then one per item) are propagated over the
symmetrically normalised bipartite graph ``Â = D^-1/2 A D^-1/2`` for ``layers`` steps,
``E(k+1) = Â E(k)``, and the final embedding is the mean of all layers,
``E = (E0 + … + EK) / (K + 1)``. score(u, i) = e_u · e_i. Training minimises the BPR loss
-log σ(score(u, i) - score(u, j)) over observed pairs and uniform random negatives, with L2 on
the ego rows of each batch (the paper's regulariser). ``Â`` is one sparse CSR tensor; since it
is symmetric, the backward pass of ``Â X`` is ``Â G`` again, which :class:`_SymmetricSpMM`
uses so autograd never builds a transpose.

Unknown users (``user_idx == -1``) are folded in from their history: a user's layer-k
embedding is the normalised sum of their items' layer-(k-1) embeddings, so for a new user with
history H the propagated part is ``Σ_k e_u(k) = Σ_{i∈H} (|H| d_i)^-1/2 · Σ_{k<K} e_i(k)``,
computed from stored item sums without touching the graph. Their ego embedding ``e_u(0)`` is
then fitted with the BPR loss on the history (:func:`recommender.training.fold_in`), items
frozen.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import scipy.sparse as sp
import torch
import torch.nn.functional as F
from torch import nn

from recommender.algorithms.base import (
    AlgorithmConfig,
    EpochCallback,
    Recommender,
    TrainOptions,
    check_range,
)
from recommender.data import Interactions, UserBatch
from recommender.training import PairSampler, fold_in, prepare, run_epochs

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class LightGCNConfig(AlgorithmConfig):
    """LightGCN hyper-parameters.

    Chosen on the inner 75/25 split of the ML-100K P1 train set (seed 42; reproduce one point
    with ``bench/lightgcn.py DIR --inner --threads 1 --config JSON``), maximising NDCG@10;
    P1 test was looked at once, with the chosen setting. Inner NDCG@10 (EASE: 0.267):
    lr 0.01 / reg 1e-4 / 60 epochs 0.247; lr 0.005 0.254, lr 0.02 0.216; reg 1e-5 0.246,
    reg 1e-3 0.255 (lr 0.005), 3e-3 0.250, 1e-2 0.230; 4 negatives 0.242; 2 layers 0.231,
    4 layers 0.246; 128 factors 0.238 (reg 1e-4) / 0.257 (reg 3e-3); lr 0.002 × 120 epochs
    0.249; lr 0.005 / reg 1e-3 × 80 epochs 0.257 (chosen), × 40 epochs at batch 2048 0.255.
    The surface is flat near the choice; the failure mode is over-fitting (train loss falls,
    NDCG drops), which the L2 weight controls. Fields marked "not searched" keep the usual
    values.
    """

    # Embedding dimensions per user and item; 32-256 (searched: 64, 128).
    factors: int = 64
    # Propagation steps K over the graph; 1-4 (searched: 2, 3, 4). 0 is plain BPR-MF.
    layers: int = 3
    # Passes over the observed pairs; 20-500 (searched: 40-120).
    epochs: int = 80
    # Observed pairs per Adam step; 512-16384 (searched: 2048, 4096). Every step propagates
    # the whole graph, so large batches cut the cost of an epoch almost proportionally.
    batch_size: int = 4096
    # Adam learning rate; 1e-4-0.05 (searched: 0.002-0.02).
    lr: float = 0.005
    # L2 weight on the ego embeddings of each batch's users, positives and negatives, summed
    # and divided by twice the batch size (RecBole's convention); 0-1e-2 (searched: 1e-5-1e-2).
    reg: float = 1e-3
    # Random negative items per observed pair (their losses are averaged); 1-16 (searched 1, 4).
    negatives: int = 1
    # Early-stopping patience in epochs on val_ndcg_at_10 (only with validation data); 0 = off.
    patience: int = 0
    # Adam steps that fit an unknown user's ego embedding to their history; 0-500 (not
    # searched; BPR-MF's value).
    fold_in_steps: int = 50
    # Learning rate of those fold-in steps; 1e-3-0.5 (not searched).
    fold_in_lr: float = 0.05

    def validate(self) -> None:
        check_range("factors", self.factors, 1, 4096)
        check_range("layers", self.layers, 0, 16)
        check_range("epochs", self.epochs, 1, 100_000)
        check_range("batch_size", self.batch_size, 1, 1 << 22)
        check_range("lr", self.lr, 1e-7, 10.0)
        check_range("reg", self.reg, 0.0, 10.0)
        check_range("negatives", self.negatives, 1, 1024)
        check_range("patience", self.patience, 0, 100_000)
        check_range("fold_in_steps", self.fold_in_steps, 0, 100_000)
        check_range("fold_in_lr", self.fold_in_lr, 1e-7, 10.0)


class _SymmetricSpMM(torch.autograd.Function):
    """``Â @ X`` for a symmetric sparse ``Â``: the gradient w.r.t. ``X`` is ``Â @ G``."""

    @staticmethod
    def forward(ctx: Any, matrix: torch.Tensor, dense: torch.Tensor) -> torch.Tensor:
        ctx.matrix = matrix
        return matrix @ dense

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[None, torch.Tensor]:
        return None, ctx.matrix @ grad


def normalised_adjacency(data: Interactions) -> sp.csr_matrix:
    """``D^-1/2 A D^-1/2`` of the bipartite graph, float32, shape (n_users + n_items,) * 2.

    Nodes without edges (items in the vocabulary that no one interacted with) get zero rows.
    """
    rating = data.matrix(binary=True)
    graph = sp.bmat([[None, rating], [rating.T, None]], format="csr", dtype=np.float32)
    degree = np.asarray(graph.sum(axis=1)).ravel()
    scale = np.zeros_like(degree)
    np.divide(1.0, np.sqrt(degree), out=scale, where=degree > 0)
    return (sp.diags(scale) @ graph @ sp.diags(scale)).tocsr().astype(np.float32)


def _torch_csr(matrix: sp.csr_matrix, device: torch.device) -> torch.Tensor:
    """The same matrix as a float32 torch CSR tensor on ``device``."""
    with warnings.catch_warnings():
        # torch warns once per process that CSR support is "beta"; matmul with it is stable.
        warnings.filterwarnings("ignore", "Sparse CSR tensor support is in beta")
        return torch.sparse_csr_tensor(
            torch.as_tensor(matrix.indptr, dtype=torch.int64),
            torch.as_tensor(matrix.indices, dtype=torch.int64),
            torch.as_tensor(matrix.data, dtype=torch.float32),
            size=matrix.shape,
            device=device,
            check_invariants=False,  # scipy built it, so it is valid; checking costs a pass
        )


class LightGCNNet(nn.Module):
    """Ego embeddings of users and items; :meth:`propagate` yields the layer embeddings."""

    def __init__(self, n_users: int, n_items: int, factors: int) -> None:
        super().__init__()
        self.user = nn.Embedding(n_users, factors)
        self.item = nn.Embedding(n_items, factors)
        # The paper's Xavier-scale init; smaller starts slow the first epochs down.
        nn.init.normal_(self.user.weight, std=0.1)
        nn.init.normal_(self.item.weight, std=0.1)

    def propagate(self, adjacency: torch.Tensor, layers: int) -> list[torch.Tensor]:
        """Embeddings of every layer 0..K, each (n_users + n_items, factors)."""
        current = torch.cat([self.user.weight, self.item.weight])
        outputs = [current]
        for _ in range(layers):
            current = _SymmetricSpMM.apply(adjacency, current)
            outputs.append(current)
        return outputs


@dataclass(frozen=True)
class _Embeddings:
    """What scoring needs after training.

    Attributes:
        users: final user embeddings, (n_users, f).
        items: final item embeddings, (n_items, f).
        item_partial: Σ_{k<K} of each item's layer embeddings, (n_items, f): a new user's
            propagated embedding is a normalised sum of these rows.
        item_degree: training users per item, float32 (n_items,).
    """

    users: torch.Tensor
    items: torch.Tensor
    item_partial: torch.Tensor
    item_degree: torch.Tensor


class LightGCN(Recommender):
    """Graph-convolution collaborative filtering without feature transforms or non-linearities."""

    name: ClassVar[str] = "lightgcn"
    config_class: ClassVar[type[AlgorithmConfig]] = LightGCNConfig
    trains_in_epochs: ClassVar[bool] = True
    contract_config: ClassVar[dict[str, Any]] = {
        "factors": 16,
        "layers": 2,
        "epochs": 20,
        "batch_size": 256,
        "lr": 0.05,
    }
    config: LightGCNConfig

    def __init__(self, config: LightGCNConfig | None = None) -> None:
        super().__init__(config)
        self.embeddings: _Embeddings | None = None

    def fit(
        self,
        data: Interactions,
        options: TrainOptions | None = None,
        on_epoch: EpochCallback | None = None,
    ) -> None:
        options = options or TrainOptions()
        ctx = prepare(options)
        cfg = self.config
        self.n_users, self.n_items = data.n_users, data.n_items
        net = LightGCNNet(self.n_users, self.n_items, cfg.factors).to(ctx.device)
        adjacency = _torch_csr(normalised_adjacency(data), ctx.device)
        degree = torch.as_tensor(data.item_popularity(), dtype=torch.float32, device=ctx.device)
        sampler = PairSampler(data, ctx)
        optimizer = torch.optim.Adam(net.parameters(), lr=cfg.lr)

        def train_epoch(epoch: int) -> float:
            total, batches = 0.0, 0
            for users, positives in sampler.epoch(cfg.batch_size):
                negatives = sampler.negatives(users, cfg.negatives)
                optimizer.zero_grad()
                loss = self._batch_loss(net, adjacency, users, positives, negatives)
                loss.backward()
                optimizer.step()
                total, batches = total + float(loss.detach()), batches + 1
            self.embeddings = self._final(net, adjacency, degree)
            return total / max(batches, 1)

        run_epochs(
            self, net, train_epoch, epochs=cfg.epochs, options=options,
            on_epoch=on_epoch, patience=cfg.patience,
        )  # fmt: skip
        # Early stopping may have restored older ego weights: recompute from them.
        self.embeddings = self._final(net, adjacency, degree)

    def _batch_loss(
        self,
        net: LightGCNNet,
        adjacency: torch.Tensor,
        users: torch.Tensor,
        positives: torch.Tensor,
        negatives: torch.Tensor,
    ) -> torch.Tensor:
        """BPR loss of one batch. users/positives: int64 (b,); negatives: int64 (b, k)."""
        final = torch.stack(net.propagate(adjacency, self.config.layers)).mean(0)
        user_final, item_final = final[: self.n_users], final[self.n_users :]
        u = user_final[users]
        pos = (u * item_final[positives]).sum(1, keepdim=True)
        neg = torch.bmm(item_final[negatives], u[:, :, None])[:, :, 0]
        ranking = F.softplus(neg - pos).mean()
        ego = (
            net.user.weight[users].square().sum()
            + net.item.weight[positives].square().sum()
            + net.item.weight[negatives].square().sum() / negatives.shape[1]
        )
        return ranking + self.config.reg * ego / (2 * len(users))

    @torch.no_grad()
    def _final(
        self, net: LightGCNNet, adjacency: torch.Tensor, degree: torch.Tensor
    ) -> _Embeddings:
        layers = net.propagate(adjacency, self.config.layers)
        final = torch.stack(layers).mean(0)
        partial = torch.stack(layers[:-1]).sum(0) if len(layers) > 1 else torch.zeros_like(final)
        return _Embeddings(
            users=final[: self.n_users].clone(),
            items=final[self.n_users :].clone(),
            item_partial=partial[self.n_users :].clone(),
            item_degree=degree,
        )

    def score(self, batch: UserBatch) -> np.ndarray:
        emb = self._require_fitted()
        with torch.no_grad():
            users = self._user_embeddings(batch)
            return (users @ emb.items.T).cpu().numpy().astype(np.float32)

    def _user_embeddings(self, batch: UserBatch) -> torch.Tensor:
        """Final embeddings of the batch's users, (b, f); unknown users folded in."""
        emb = self._require_fitted()
        device = emb.items.device
        user_idx = torch.as_tensor(batch.user_idx, dtype=torch.int64, device=device)
        known = user_idx >= 0
        result = torch.zeros(len(user_idx), emb.items.shape[1], device=device)
        result[known] = emb.users[user_idx[known]]
        if not bool(known.all()):
            unknown = (~known).nonzero().ravel()
            result[unknown] = self._fold_in(batch.history[unknown.cpu().numpy()])
        return result

    def _fold_in(self, history: sp.csr_matrix) -> torch.Tensor:
        """Final embeddings of new users, (b, f), from their history rows (b, n_items).

        The propagated part comes from the stored item sums; the ego part starts at zero and is
        fitted with BPR on the history. A user with no history gets zeros (all scores 0).
        """
        emb = self._require_fitted()
        propagated = self._propagated(history)
        scale = 1.0 / (self.config.layers + 1)
        items, reg = emb.items, self.config.reg

        def loss_fn(params, rows, positives, negatives):  # noqa: ANN001, ANN202 - see fold_in
            users = (params[0][rows] + propagated[rows]) * scale
            margin = (users * (items[positives] - items[negatives])).sum(1)
            return (-F.logsigmoid(margin)).mean() + reg * params[0][rows].square().sum(1).mean()

        ego = torch.zeros_like(propagated)
        (ego,) = fold_in(
            loss_fn, [ego], history, steps=self.config.fold_in_steps, lr=self.config.fold_in_lr
        )
        empty = torch.as_tensor(np.diff(history.indptr) == 0, device=items.device)
        final = (ego + propagated) * scale
        final[empty] = 0.0
        return final

    def _propagated(self, history: sp.csr_matrix) -> torch.Tensor:
        """Σ_{k≥1} of new users' layer embeddings: Σ_{i∈H} (|H| d_i)^-1/2 Σ_{k<K} e_i(k)."""
        emb = self._require_fitted()
        binary = (history != 0).astype(np.float32).tocsr()
        # A new user adds one edge to each of their items, so their degree counts it.
        degree = emb.item_degree.cpu().numpy() + 1.0
        length = np.maximum(np.diff(binary.indptr), 1).astype(np.float32)
        weights = sp.diags(1.0 / np.sqrt(length)) @ binary @ sp.diags(1.0 / np.sqrt(degree))
        return _torch_csr(weights.tocsr(), emb.items.device) @ emb.item_partial

    def get_state(self) -> dict[str, Any]:
        emb = self._require_fitted()
        return {
            "users": emb.users.cpu(),
            "items": emb.items.cpu(),
            "item_partial": emb.item_partial.cpu(),
            "item_degree": emb.item_degree.cpu(),
        }

    @classmethod
    def from_state(cls, config: AlgorithmConfig, state: dict[str, Any]) -> LightGCN:
        assert isinstance(config, LightGCNConfig)
        model = cls(config)
        model.embeddings = _Embeddings(
            users=state["users"],
            items=state["items"],
            item_partial=state["item_partial"],
            item_degree=state["item_degree"],
        )
        model.n_users, model.n_items = len(state["users"]), len(state["items"])
        return model

    def _require_fitted(self) -> _Embeddings:
        if self.embeddings is None:
            raise RuntimeError("LightGCN is not fitted")
        return self.embeddings
