"""Matrix factorisation trained with Bayesian Personalised Ranking (Rendle et al., 2009).

score(u, i) = p_u · q_i + b_i. Each step takes a batch of observed (u, i) pairs, draws
``negatives`` random items j per pair (resampling items the user already has), and minimises
-log σ(score(u, i) - score(u, j)) with L2 on the rows the batch touches. Sampling and updates
are vectorised in torch, so one epoch over ML-100K is a handful of large batches.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
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


@dataclass(frozen=True)
class BPRConfig(AlgorithmConfig):
    """BPR-MF hyper-parameters.

    Defaults were chosen on the inner 75/25 split of the ML-100K P1 train set (seed 42),
    maximising NDCG@10 under a ~4 s CPU budget; see ``bench/train_speed.py``.
    """

    # Latent dimensions per user and item; 32-512. More factors need more reg.
    factors: int = 128
    # Passes over the observed pairs; 10-200.
    epochs: int = 40
    # Observed pairs per Adam step; 256-65536. Large batches keep torch overhead per epoch low.
    batch_size: int = 4096
    # Adam learning rate; 1e-4-0.1.
    lr: float = 0.01
    # L2 weight on the user/item factors and item biases of each sampled triple; 0-0.1.
    reg: float = 1e-4
    # Random negative items per observed pair (their losses are averaged); 1-32.
    negatives: int = 1
    # Early-stopping patience in epochs on val_ndcg_at_10 (only with validation data); 0 = off.
    patience: int = 0
    # Adam steps that fit an unknown user's factors to their history at scoring time; 0-500.
    fold_in_steps: int = 60
    # Learning rate of those fold-in steps; 1e-3-0.5.
    fold_in_lr: float = 0.05

    def validate(self) -> None:
        check_range("factors", self.factors, 1, 4096)
        check_range("epochs", self.epochs, 1, 10_000)
        check_range("batch_size", self.batch_size, 1, 1 << 20)
        check_range("lr", self.lr, 1e-7, 10.0)
        check_range("reg", self.reg, 0.0, 10.0)
        check_range("negatives", self.negatives, 1, 1024)
        check_range("patience", self.patience, 0, 10_000)
        check_range("fold_in_steps", self.fold_in_steps, 0, 10_000)
        check_range("fold_in_lr", self.fold_in_lr, 1e-7, 10.0)


class BPRNet(nn.Module):
    """User and item factor tables plus an item bias."""

    def __init__(self, n_users: int, n_items: int, factors: int) -> None:
        super().__init__()
        self.user = nn.Embedding(n_users, factors)
        self.item = nn.Embedding(n_items, factors)
        self.item_bias = nn.Embedding(n_items, 1)
        nn.init.normal_(self.user.weight, std=0.1)
        nn.init.normal_(self.item.weight, std=0.1)
        nn.init.zeros_(self.item_bias.weight)

    def all_scores(self, users: torch.Tensor) -> torch.Tensor:
        """users (b, k) factors → (b, n_items) scores."""
        return users @ self.item.weight.T + self.item_bias.weight.T


class BPRMF(Recommender):
    """Implicit-feedback matrix factorisation trained with the BPR pairwise loss."""

    name = "bpr"
    config_class = BPRConfig
    contract_config: ClassVar[dict[str, Any]] = {"factors": 8, "epochs": 2, "batch_size": 64}
    config: BPRConfig

    def __init__(self, config: BPRConfig | None = None) -> None:
        super().__init__(config)
        self.net: BPRNet | None = None

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
        self.net = BPRNet(self.n_users, self.n_items, cfg.factors).to(ctx.device)
        sampler = PairSampler(data, ctx)
        optimizer = torch.optim.Adam(self.net.parameters(), lr=cfg.lr)

        def train_epoch(epoch: int) -> float:
            total, batches = 0.0, 0
            for users, positives in sampler.epoch(cfg.batch_size):
                negatives = sampler.negatives(users, cfg.negatives)
                total += self._set_gradients(users, positives, negatives)
                optimizer.step()
                batches += 1
            return total / max(batches, 1)

        run_epochs(
            self, self.net, train_epoch, epochs=cfg.epochs, options=options,
            on_epoch=on_epoch, patience=cfg.patience,
        )  # fmt: skip
        self.net.eval()

    @torch.no_grad()
    def _set_gradients(
        self, users: torch.Tensor, positives: torch.Tensor, negatives: torch.Tensor
    ) -> float:
        """Write the BPR loss gradients into ``.grad`` and return the loss.

        Loss per pair: mean over its k negatives of softplus(s_neg - s_pos), plus L2 on the
        touched rows (a negative's L2 counts 1/k, so each pair regularises as one triple).
        The gradients are written by hand because autograd's gather/scatter backward is
        about twice as slow on CPU for a model this small, and this is the whole cost.

        Args:
            users, positives: int64, shape (b,).
            negatives: int64, shape (b, k).
        """
        net = self._require_fitted()
        b, k = negatives.shape
        items = torch.cat([positives[:, None], negatives], dim=1).reshape(-1)
        factors = net.user.weight.index_select(0, users)
        item_factors = net.item.weight.index_select(0, items).view(b, k + 1, -1)
        biases = net.item_bias.weight.index_select(0, items).view(b, k + 1)
        scores = torch.bmm(item_factors, factors[:, :, None])[:, :, 0] + biases
        margins = scores[:, 1:] - scores[:, :1]
        # d softplus(m) / dm = sigmoid(m); the positive item collects minus the sum.
        slopes = torch.sigmoid(margins) / (b * k)
        d_scores = torch.cat([-slopes.sum(1, keepdim=True), slopes], dim=1)
        weight = torch.full((1, k + 1), 2 * self.config.reg / b, device=users.device)
        weight[0, 1:] /= k
        d_users = torch.bmm(d_scores[:, None, :], item_factors)[:, 0] + factors * weight[0, 0]
        d_items = d_scores[:, :, None] * factors[:, None, :] + item_factors * weight[:, :, None]
        d_biases = d_scores + biases * weight
        net.user.weight.grad = torch.zeros_like(net.user.weight).index_add_(0, users, d_users)
        net.item.weight.grad = torch.zeros_like(net.item.weight).index_add_(
            0, items, d_items.view(b * (k + 1), -1)
        )
        net.item_bias.weight.grad = torch.zeros_like(net.item_bias.weight).index_add_(
            0, items, d_biases.view(-1, 1)
        )
        return float(F.softplus(margins).mean())

    def score(self, batch: UserBatch) -> np.ndarray:
        net = self._require_fitted()
        with torch.no_grad():
            factors = self._user_factors(batch)
            return net.all_scores(factors).cpu().numpy().astype(np.float32)

    def _user_factors(self, batch: UserBatch) -> torch.Tensor:
        net = self._require_fitted()
        device = net.item.weight.device
        user_idx = torch.as_tensor(batch.user_idx, dtype=torch.int64, device=device)
        known = user_idx >= 0
        factors = torch.zeros(len(user_idx), self.config.factors, device=device)
        factors[known] = net.user(user_idx[known])
        if not bool(known.all()):
            unknown = (~known).nonzero().ravel()
            history = batch.history[unknown.cpu().numpy()]
            factors[unknown] = self._fold_in(history)
        return factors

    def _fold_in(self, history: Any) -> torch.Tensor:
        """Fit new users' factors with the BPR loss on their history, items frozen."""
        net = self._require_fitted()
        start = _mean_history_factors(net, history)

        def loss_fn(params, rows, positives, negatives):  # noqa: ANN001, ANN202 - see fold_in
            users = params[0][rows]
            margin = (users * (net.item(positives) - net.item(negatives))).sum(1)
            margin = margin + (net.item_bias(positives) - net.item_bias(negatives))[:, 0]
            penalty = self.config.reg * users.square().sum(1)
            return (-F.logsigmoid(margin) + penalty).mean()

        (fitted,) = fold_in(
            loss_fn, [start], history, steps=self.config.fold_in_steps, lr=self.config.fold_in_lr
        )
        return fitted

    def get_state(self) -> dict[str, Any]:
        net = self._require_fitted()
        return {key: value.detach().cpu() for key, value in net.state_dict().items()}

    @classmethod
    def from_state(cls, config: AlgorithmConfig, state: dict[str, Any]) -> BPRMF:
        assert isinstance(config, BPRConfig)
        model = cls(config)
        n_users, factors = state["user.weight"].shape
        model.n_users, model.n_items = n_users, state["item.weight"].shape[0]
        model.net = BPRNet(model.n_users, model.n_items, factors)
        model.net.load_state_dict(state)
        model.net.eval()
        return model

    def _require_fitted(self) -> BPRNet:
        if self.net is None:
            raise RuntimeError("BPRMF is not fitted")
        return self.net


def _mean_history_factors(net: BPRNet, history: Any) -> torch.Tensor:
    """Mean factor of each row's history items (zeros for an empty row): the fold-in start."""
    device = net.item.weight.device
    rows = torch.as_tensor(history.tocoo().row, dtype=torch.int64, device=device)
    cols = torch.as_tensor(history.tocoo().col, dtype=torch.int64, device=device)
    with torch.no_grad():
        sums = torch.zeros(history.shape[0], net.item.weight.shape[1], device=device)
        sums.index_add_(0, rows, net.item.weight[cols])
        counts = torch.bincount(rows, minlength=history.shape[0]).clamp(min=1)
        return sums / counts[:, None]
