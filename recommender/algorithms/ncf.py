"""Neural collaborative filtering (He et al., 2017): GMF, MLP and their fusion NeuMF.

``NCFConfig.variant`` picks the network. GMF scores p_u · q_i (its output weight is fixed, see
:class:`NCFNet`); MLP feeds [p_u; q_i] through a ReLU tower that halves in width; NeuMF adds
both. Three losses, all with sampled negatives:

- ``"bpr"`` (default): pairwise BPR, each observed (u, i) against the best-scored of
  ``negatives`` random candidates (dynamic negative sampling, as in ``bpr.py``). On the inner
  ML-100K split it beat the others at a fraction of their cost: NeuMF NDCG@10 0.258 in 20
  cheap epochs, against 0.24-0.25 for the sampled softmax with 256 shared negatives, whose
  MLP tower must score b × 256 pairs per step.
- ``"softmax"``: sampled softmax, each positive against ``negatives`` uniform items shared by
  the batch (so the GMF part is one matrix product and the first MLP layer two).
- ``"bce"``: the paper's pointwise log loss with ``negatives`` random items per pair.

``pretrain=True`` (NeuMF only) follows the paper's section 3.4.1: fit GMF and MLP alone, copy
their weights into NeuMF, weigh the two outputs ``alpha : 1 - alpha``, then fine-tune with
``finetune_lr``. On ML-100K it did not beat training NeuMF from scratch (0.245 vs 0.258), so it
is off by default.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, ClassVar

import numpy as np
import scipy.sparse as sp
import torch
import torch.nn.functional as F
from torch import nn

from recommender.algorithms.base import (
    AlgorithmConfig,
    ConfigError,
    EpochCallback,
    Recommender,
    TrainOptions,
    check_range,
)
from recommender.data import Interactions, UserBatch
from recommender.training import PairSampler, TrainContext, fold_in, prepare, run_epochs

VARIANTS = ("gmf", "mlp", "neumf")
LOSSES = ("bpr", "softmax", "bce")
#: Cap on the (users × items × width) activations one scoring chunk of the MLP may hold.
SCORE_CHUNK_ELEMENTS = 1 << 24
#: L2 on a folded-in user's embeddings: keeps them at the scale of the trained ones.
FOLD_IN_REG = 1e-3
#: Embedding init std (the paper uses 0.01; 0.1 as in BPR trains faster).
INIT_STD = 0.1


@dataclass(frozen=True)
class NCFConfig(AlgorithmConfig):
    """NCF hyper-parameters.

    Defaults were chosen on the inner 75/25 split of the ML-100K P1 train set (seed 42),
    maximising NDCG@10 of the last epoch under a ~15 s budget on 2 CPU cores; the figures in
    the comments are inner-split NDCG@10 of NeuMF.
    """

    # Which network: "gmf", "mlp" or "neumf" (both fused).
    variant: str = "neumf"
    # GMF embedding size (its predictive factors); 8-256.
    factors: int = 64
    # Hidden ReLU layers of the MLP tower; 1-4. Widths halve down to mlp_factors, and the user
    # and item embeddings are each half the first layer's input (the paper's design). One
    # layer matched two on ML-100K (0.255 vs 0.251) at half the cost.
    mlp_layers: int = 1
    # Width of the MLP's last hidden layer (its predictive factors); 4-128.
    mlp_factors: int = 32
    # Dropout on MLP hidden activations during training; 0-0.6. The MLP tower overfits
    # without it (NeuMF 0.231 at 0, 0.251 at 0.3, 0.258 at 0.5).
    dropout: float = 0.5
    # "bpr", "softmax" or "bce"; see the module docstring.
    loss: str = "bpr"
    # bpr: candidates per pair (1 = uniform BPR, 2-16); softmax: negatives shared per batch
    # (64-2048); bce: negatives per pair (1-16).
    negatives: int = 4
    # Passes over the observed pairs; 5-100.
    epochs: int = 20
    # Observed pairs per Adam step; 256-16384. Large batches keep per-step overhead low.
    batch_size: int = 8192
    # Adam learning rate; 1e-4-0.05.
    lr: float = 0.015
    # L2 weight of the GMF embeddings: touched user and positive item rows per pair, plus a
    # uniform decay of the item table (see _l2); 0-0.1. As in BPR, 0.03 was best.
    reg: float = 0.03
    # The same for the MLP tower's embeddings; 0-0.1.
    mlp_reg: float = 0.03
    # Early-stopping patience in epochs on val_ndcg_at_10 (only with validation data); 0 = off.
    patience: int = 0
    # NeuMF only: pre-train GMF and MLP separately and initialise NeuMF from them.
    pretrain: bool = False
    # Epochs of each pre-training run (the NeuMF fine-tuning then runs ``epochs``); 1-100.
    pretrain_epochs: int = 20
    # Adam learning rate of the NeuMF fine-tuning after pre-training; 1e-5-0.01.
    finetune_lr: float = 0.001
    # Weight of the GMF output layer when fusing pre-trained layers (the paper's alpha); 0-1.
    alpha: float = 0.5
    # Adam steps that fit an unknown user's embeddings to their history when scoring; 0-500.
    fold_in_steps: int = 60
    # Learning rate of those fold-in steps; 1e-3-0.5.
    fold_in_lr: float = 0.05

    def validate(self) -> None:
        if self.variant not in VARIANTS:
            raise ConfigError("variant", f"must be one of {', '.join(VARIANTS)}")
        if self.loss not in LOSSES:
            raise ConfigError("loss", f"must be one of {', '.join(LOSSES)}")
        if self.pretrain and self.variant != "neumf":
            raise ConfigError("pretrain", "only applies to variant 'neumf'")
        check_range("factors", self.factors, 1, 4096)
        check_range("mlp_layers", self.mlp_layers, 1, 6)
        check_range("mlp_factors", self.mlp_factors, 1, 1024)
        check_range("dropout", self.dropout, 0.0, 0.9)
        check_range("negatives", self.negatives, 1, 1 << 16)
        check_range("epochs", self.epochs, 1, 10_000)
        check_range("batch_size", self.batch_size, 1, 1 << 20)
        check_range("lr", self.lr, 1e-7, 10.0)
        check_range("reg", self.reg, 0.0, 10.0)
        check_range("mlp_reg", self.mlp_reg, 0.0, 10.0)
        check_range("patience", self.patience, 0, 10_000)
        check_range("pretrain_epochs", self.pretrain_epochs, 1, 10_000)
        check_range("alpha", self.alpha, 0.0, 1.0)
        check_range("finetune_lr", self.finetune_lr, 1e-7, 10.0)
        check_range("fold_in_steps", self.fold_in_steps, 0, 10_000)
        check_range("fold_in_lr", self.fold_in_lr, 1e-7, 10.0)


class NCFNet(nn.Module):
    """GMF and/or MLP towers over user and item embeddings, summed into one score.

    The output is ``bias + g · Σ_f p_f q_f + h · mlp(p', q')``. The GMF weight ``g`` is a fixed
    scalar (1, or the pre-training ``alpha``), not the paper's learned vector: with a learned
    vector, L2 on the embeddings is dodged by growing the vector and shrinking p and q (or,
    with L2 on it too, the three-way product collapses to its saddle at zero). With g fixed,
    GMF is exactly MF, which the paper shows it generalises.
    """

    def __init__(self, n_users: int, n_items: int, config: NCFConfig) -> None:
        super().__init__()
        self.has_gmf = config.variant in ("gmf", "neumf")
        self.has_mlp = config.variant in ("mlp", "neumf")
        self.bias = nn.Parameter(torch.zeros(1))
        if self.has_gmf:
            self.gmf_user = _embedding(n_users, config.factors)
            self.gmf_item = _embedding(n_items, config.factors)
            self.register_buffer("gmf_weight", torch.ones(1))
        if self.has_mlp:
            layers = config.mlp_layers
            sizes = [config.mlp_factors * 2 ** (layers - n) for n in range(layers + 1)]
            self.mlp_user = _embedding(n_users, sizes[0] // 2)
            self.mlp_item = _embedding(n_items, sizes[0] // 2)
            pairs = zip(sizes, sizes[1:], strict=False)
            self.mlp = nn.ModuleList(nn.Linear(a, b) for a, b in pairs)
            self.mlp_output = nn.Linear(config.mlp_factors, 1, bias=False)
            self.dropout = nn.Dropout(config.dropout)

    def user_params(self, users: torch.Tensor) -> list[torch.Tensor]:
        """The per-user embedding rows, in a fixed order (GMF first): what fold-in fits."""
        params = []
        if self.has_gmf:
            params.append(self.gmf_user(users))
        if self.has_mlp:
            params.append(self.mlp_user(users))
        return params

    def pair_scores(self, user: list[torch.Tensor], items: torch.Tensor) -> torch.Tensor:
        """Scores of every user in ``user`` against every item in ``items``.

        Args:
            user: :meth:`user_params` rows, each of shape (b, d).
            items: int64 item indices, shape (m,).

        Returns:
            float tensor, shape (b, m).
        """
        parts = list(user)
        total = self.bias.expand(len(parts[0]), len(items))
        if self.has_gmf:
            total = total + self.gmf_weight * (parts.pop(0) @ self.gmf_item(items).T)
        if self.has_mlp:
            hidden = self._mlp_grid(parts.pop(0), self.mlp_item(items))
            total = total + self.mlp_output(hidden)[..., 0]
        return total

    def _mlp_grid(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        """MLP tower over all (user, item) combinations → (b, m, mlp_factors)."""
        first = self.mlp[0]
        half = users.shape[1]
        # W [p; q] + c = W_p p + (W_q q + c): each side once, then a broadcast add.
        left = users @ first.weight[:, :half].T
        right = items @ first.weight[:, half:].T + first.bias
        hidden = self.dropout(F.relu(left[:, None, :] + right[None, :, :]))
        for layer in self.mlp[1:]:
            hidden = self.dropout(F.relu(layer(hidden)))
        return hidden

    def diagonal_scores(self, user: list[torch.Tensor], items: torch.Tensor) -> torch.Tensor:
        """Scores of user row n against ``items[n]`` only; items (b,) → (b,)."""
        parts = list(user)
        total = self.bias.expand(len(items))
        if self.has_gmf:
            total = total + self.gmf_weight * (parts.pop(0) * self.gmf_item(items)).sum(1)
        if self.has_mlp:
            hidden = torch.cat([parts.pop(0), self.mlp_item(items)], dim=1)
            for layer in self.mlp:
                hidden = self.dropout(F.relu(layer(hidden)))
            total = total + self.mlp_output(hidden)[:, 0]
        return total


def _embedding(rows: int, size: int) -> nn.Embedding:
    table = nn.Embedding(rows, size)
    nn.init.normal_(table.weight, std=INIT_STD)
    return table


class NCF(Recommender):
    """GMF / MLP / NeuMF recommender on implicit feedback."""

    name = "ncf"
    config_class = NCFConfig
    trains_in_epochs = True
    # Tiny data of the contract suite: classic BPR (hard negatives would be the held-out
    # answers there), small and fast.
    contract_config: ClassVar[dict[str, Any]] = {
        "loss": "bpr", "factors": 4, "mlp_factors": 8, "epochs": 40, "batch_size": 32,
        "lr": 0.02, "reg": 0.0, "mlp_reg": 0.0, "negatives": 1, "dropout": 0.0,
    }  # fmt: skip
    config: NCFConfig

    def __init__(self, config: NCFConfig | None = None) -> None:
        super().__init__(config)
        self.net: NCFNet | None = None

    def fit(
        self,
        data: Interactions,
        options: TrainOptions | None = None,
        on_epoch: EpochCallback | None = None,
    ) -> None:
        options = options or TrainOptions()
        ctx = prepare(options)
        self.n_users, self.n_items = data.n_users, data.n_items
        sampler = PairSampler(data, ctx)
        if self.config.pretrain:
            net = self._pretrained_neumf(sampler, ctx, options)
        else:
            net = NCFNet(self.n_users, self.n_items, self.config).to(ctx.device)
        self.net = net  # validation scores through self.net while it trains
        cfg = self.config
        if cfg.pretrain:
            # Fine-tune gently, or the first Adam steps undo the pre-trained towers.
            cfg = replace(cfg, lr=cfg.finetune_lr)
        self._train(net, cfg, sampler, options, on_epoch)
        self.net.eval()

    def _train(
        self,
        net: NCFNet,
        cfg: NCFConfig,
        sampler: PairSampler,
        options: TrainOptions,
        on_epoch: EpochCallback | None,
    ) -> None:
        optimizer = torch.optim.Adam(net.parameters(), lr=cfg.lr)
        step = {"bpr": self._bpr_loss, "softmax": self._softmax_loss, "bce": self._bce_loss}[
            cfg.loss
        ]

        def train_epoch(epoch: int) -> float:
            total, batches = 0.0, 0
            for users, positives in sampler.epoch(cfg.batch_size):
                loss = step(net, cfg, sampler, users, positives)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                total, batches = total + loss.item(), batches + 1
            return total / max(batches, 1)

        # Validation scores through self.net; only the final network is trained with it.
        run_epochs(
            self, net, train_epoch, epochs=cfg.epochs, options=options,
            on_epoch=on_epoch, patience=cfg.patience,
        )  # fmt: skip

    @staticmethod
    def _bpr_loss(
        net: NCFNet, cfg: NCFConfig, sampler: PairSampler, users: torch.Tensor, pos: torch.Tensor
    ) -> torch.Tensor:
        """BPR against the best-scored of ``negatives`` random candidates per pair."""
        candidates = sampler.negatives(users, cfg.negatives)
        user = net.user_params(users)
        with torch.no_grad():
            repeated = [p.repeat_interleave(cfg.negatives, dim=0) for p in user]
            scores = net.diagonal_scores(repeated, candidates.reshape(-1))
            hardest = scores.view_as(candidates).argmax(1, keepdim=True)
        negatives = candidates.gather(1, hardest)[:, 0]
        margin = net.diagonal_scores(user, negatives) - net.diagonal_scores(user, pos)
        ranking = F.softplus(margin).mean()
        return ranking + _l2(cfg, user, net, pos)

    @staticmethod
    def _softmax_loss(
        net: NCFNet, cfg: NCFConfig, sampler: PairSampler, users: torch.Tensor, pos: torch.Tensor
    ) -> torch.Tensor:
        """Cross-entropy of each positive against the batch's shared uniform negatives."""
        negatives = torch.randint(
            sampler.n_items, (cfg.negatives,), generator=sampler.ctx.generator,
            device=users.device,
        )  # fmt: skip
        user = net.user_params(users)
        positive = net.diagonal_scores(user, pos)
        negative = net.pair_scores(user, negatives)
        # Remove accidental hits (a negative that is the row's own positive), as TensorFlow's
        # sampled softmax does. Other history items stay: checking them costs more than the
        # rest of the step and changed NDCG@10 by less than its noise on ML-100K.
        hits = negatives[None, :] == pos[:, None]
        logits = torch.cat([positive[:, None], negative.masked_fill(hits, -1e4)], dim=1)
        ranking = -F.log_softmax(logits, dim=1)[:, 0].mean()
        return ranking + _l2(cfg, user, net, pos)

    @staticmethod
    def _bce_loss(
        net: NCFNet, cfg: NCFConfig, sampler: PairSampler, users: torch.Tensor, pos: torch.Tensor
    ) -> torch.Tensor:
        """The paper's log loss: positives labelled 1, ``negatives`` random items per pair 0."""
        negatives = sampler.negatives(users, cfg.negatives)
        all_users = torch.cat([users, users.repeat_interleave(cfg.negatives)])
        items = torch.cat([pos, negatives.reshape(-1)])
        labels = torch.zeros(len(items), device=users.device)
        labels[: len(pos)] = 1.0
        user = net.user_params(all_users)
        logits = net.diagonal_scores(user, items)
        loss = F.binary_cross_entropy_with_logits(logits, labels)
        return loss + _l2(cfg, user, net, items)

    def _pretrained_neumf(
        self, sampler: PairSampler, ctx: TrainContext, options: TrainOptions
    ) -> NCFNet:
        """Train GMF and MLP alone, then fuse them into a NeuMF (the paper's section 3.4.1)."""
        cfg = self.config
        parts = {}
        for variant in ("gmf", "mlp"):
            part_cfg = replace(cfg, variant=variant, pretrain=False, epochs=cfg.pretrain_epochs)
            parts[variant] = NCFNet(self.n_users, self.n_items, part_cfg).to(ctx.device)
            # Neither validation nor a best-epoch cap (max_epochs, e.g. the serving refit's)
            # belongs to the parts: both concern the fused network's epochs.
            part_options = replace(options, validation=None, max_epochs=None)
            self._train(parts[variant], part_cfg, sampler, part_options, None)
        fused = NCFNet(self.n_users, self.n_items, cfg).to(ctx.device)
        _fuse(fused, parts["gmf"], parts["mlp"], cfg.alpha)
        return fused

    def score(self, batch: UserBatch) -> np.ndarray:
        net = self._require_fitted()
        device = net.bias.device
        with torch.no_grad():
            user = self._user_params(batch)
            items = torch.arange(self.n_items, device=device)
            width = self.config.mlp_factors * 2**self.config.mlp_layers if net.has_mlp else 1
            chunk = max(1, SCORE_CHUNK_ELEMENTS // (self.n_items * width))
            rows = [
                net.pair_scores([p[start : start + chunk] for p in user], items)
                for start in range(0, len(batch), chunk)
            ]
            return torch.cat(rows).cpu().numpy().astype(np.float32)

    def _user_params(self, batch: UserBatch) -> list[torch.Tensor]:
        net = self._require_fitted()
        device = net.bias.device
        user_idx = torch.as_tensor(batch.user_idx, dtype=torch.int64, device=device)
        known = user_idx >= 0
        params = net.user_params(user_idx.clamp(min=0))
        if not bool(known.all()):
            unknown = (~known).nonzero().ravel()
            fitted = self._fold_in(batch.history[unknown.cpu().numpy()])
            for param, new in zip(params, fitted, strict=True):
                param[unknown] = new
        return params

    def _fold_in(self, history: sp.csr_matrix) -> list[torch.Tensor]:
        """Fit new users' embeddings with a pairwise loss on their history, items frozen."""
        net = self._require_fitted()
        start = [_mean_rows(table.weight, history) for table in _item_tables(net)]

        def loss_fn(
            params: list[torch.Tensor], rows: torch.Tensor, pos: torch.Tensor, neg: torch.Tensor
        ) -> torch.Tensor:
            user = [p[rows] for p in params]
            margin = net.diagonal_scores(user, pos) - net.diagonal_scores(user, neg)
            penalty = sum(p.square().sum(1) for p in user)
            return (F.softplus(-margin) + FOLD_IN_REG * penalty).mean()

        return fold_in(
            loss_fn, start, history, steps=self.config.fold_in_steps, lr=self.config.fold_in_lr
        )

    def get_state(self) -> dict[str, Any]:
        net = self._require_fitted()
        return {key: value.detach().cpu() for key, value in net.state_dict().items()}

    @classmethod
    def from_state(cls, config: AlgorithmConfig, state: dict[str, Any]) -> NCF:
        assert isinstance(config, NCFConfig)
        model = cls(config)
        first = "gmf_user.weight" if "gmf_user.weight" in state else "mlp_user.weight"
        item = first.replace("user", "item")
        model.n_users, model.n_items = state[first].shape[0], state[item].shape[0]
        model.net = NCFNet(model.n_users, model.n_items, config)
        model.net.load_state_dict(state)
        model.net.eval()
        return model

    def _require_fitted(self) -> NCFNet:
        if self.net is None:
            raise RuntimeError("NCF is not fitted")
        return self.net


def _l2(cfg: NCFConfig, user: list[torch.Tensor], net: NCFNet, items: torch.Tensor) -> torch.Tensor:
    """L2 of a batch: the user and positive item rows (per pair), and each item table decayed
    uniformly. Per-draw L2 on the sampled negatives would shrink the few popular items that
    hard sampling keeps picking, which hurt NDCG@10 (as in BPR). The MLP tower has its own
    weight: at the GMF's it collapses to a constant."""
    b = len(user[0])
    total = torch.zeros((), device=items.device)
    weights = ([cfg.reg] if net.has_gmf else []) + ([cfg.mlp_reg] if net.has_mlp else [])
    for weight, rows, table in zip(weights, user, _item_tables(net), strict=True):
        if weight:
            norms = rows.square().sum() + table(items).square().sum()
            total = total + weight * (norms / b + table.weight.square().sum() / len(table.weight))
    return total


def _item_tables(net: NCFNet) -> list[nn.Embedding]:
    """Item embedding tables in :meth:`NCFNet.user_params` order."""
    return ([net.gmf_item] if net.has_gmf else []) + ([net.mlp_item] if net.has_mlp else [])


def _mean_rows(table: torch.Tensor, history: sp.csr_matrix) -> torch.Tensor:
    """Mean of the ``table`` rows in each history row (zeros for empty rows), shape (b, d)."""
    coo = history.tocoo()
    rows = torch.as_tensor(coo.row, dtype=torch.int64, device=table.device)
    cols = torch.as_tensor(coo.col, dtype=torch.int64, device=table.device)
    with torch.no_grad():
        sums = torch.zeros(history.shape[0], table.shape[1], device=table.device)
        sums.index_add_(0, rows, table[cols])
        counts = torch.bincount(rows, minlength=history.shape[0]).clamp(min=1)
        return sums / counts[:, None]


@torch.no_grad()
def _fuse(neumf: NCFNet, gmf: NCFNet, mlp: NCFNet, alpha: float) -> None:
    """Copy pre-trained towers into ``neumf`` and weigh their outputs ``alpha : 1 - alpha``."""
    for name in ("gmf_user", "gmf_item"):
        getattr(neumf, name).load_state_dict(getattr(gmf, name).state_dict())
    for name in ("mlp_user", "mlp_item", "mlp"):
        getattr(neumf, name).load_state_dict(getattr(mlp, name).state_dict())
    neumf.gmf_weight.fill_(alpha)
    neumf.mlp_output.weight.copy_((1 - alpha) * mlp.mlp_output.weight)
    neumf.bias.copy_(alpha * gmf.bias + (1 - alpha) * mlp.bias)
