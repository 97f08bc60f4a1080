"""A factorisation machine over rater and item attributes plus ids, for cold-start raters.

Each rater and item is a bag of feature tokens: its id, and its attributes. A rater's tokens
are ``<user>`` (present for everyone: the mean taste), one ``column=value`` per categorical
attribute (gender, occupation...), and one ``column#bin`` per numeric attribute (age is cut at
the quantiles of the training raters). An item's tokens are ``<item>``, ``genre=X`` for each of
its genres, and ``decade=1990`` when its title ends in a year. Every token t has a vector v_t
and item-side tokens a bias b_t. With U = Σ_{t∈user} w_t v_t (+ the id vector p_u) and
I = Σ_{t∈item} w_t v_t (+ the id vector q_i),

    score(u, i) = U · I + Σ_{t∈item} w_t b_t (+ the id bias of i).

That is a factorisation machine restricted to user–item feature pairs, as in LightFM (Kula,
2015): the pairs among a rater's own features and the rater-side linear terms add a constant
per rater and cannot change a ranking; the pairs among an item's own features are left out
(the item-side biases carry what is item-specific). It is trained with a full softmax over the
items that have training interactions (``loss="softmax"``, the default) or with BPR against
uniform negatives drawn from them (``loss="bpr"``).

Cold start. A rater the model never saw (``user_idx == -1``) is represented by the tokens of
their attributes, read from ``UserBatch.user_features`` (row i describes batch user i); with
no attributes only ``<user>`` remains, which ranks like a learned popularity. When such a rater
also has a history, a free vector added to U is fitted to it with BPR (everything else frozen;
:func:`recommender.training.fold_in`). During training the user id vector is hidden at random
with probability ``user_id_dropout`` (DropoutNet, Volkovs et al., 2017) so that the attribute
vectors must rank on their own; ``item_id_dropout`` does the same for items, and items without
training interactions never use their id, so new items are scored from genres and decade.

Attributes come from ``Interactions.user_features`` (indexed by user id; any columns, e.g.
age/gender/occupation) and ``Interactions.item_features`` (indexed by item id; ``genres`` as a
list of str, optional ``title``). Missing frames, rows or values simply contribute no token.
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import pandas as pd
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
from recommender.training import TrainContext, fold_in, prepare, run_epochs

logger = logging.getLogger(__name__)

PAD, USER, ITEM = "<pad>", "<user>", "<item>"
LOSSES = ("softmax", "bpr")
_YEAR = re.compile(r"\((\d{4})\)\s*$")


@dataclass(frozen=True)
class SideFeaturesConfig(AlgorithmConfig):
    """SideFeatures hyper-parameters.

    Chosen on an inner new-raters split of ML-100K, never on the protocol's held-out raters:
    the training raters of the new-raters split, with 20% of *them* held out (seed 7; 170
    raters), maximising NDCG@10 with 0 revealed items and checking 1-5 revealed;
    ``bench/coldstart.py DIR --inner --side-features JSON`` reproduces a point. Popularity
    there: 0.443. BPR (32 factors, 30 epochs) stayed below popularity (0.393 on a 10% inner
    split where popularity had 0.401), so the loss became a full softmax. Softmax, 20
    epochs, reg 1e-4: user id dropout 0.5/0.8/1.0 0.436/0.392/0.420; 16 factors 0.443, with
    reg 1e-3/3e-3/1e-2 0.445/0.446/0.454; 32 factors with reg 1e-2/3e-2/0.1/0.3
    0.454/0.463/0.475/0.453 (0.1 chosen); at reg 0.1, crosses 0.478 (a tie, HR@10 lower, so
    off) and user id dropout 0.8 0.456; 40 epochs and 10 epochs lost. The lesson: the
    attribute signal is weak next to popularity and the model over-fits it unless the
    vectors are held small. Fields marked "not searched" keep the usual values.
    """

    # Dimensions of every feature vector; 8-128 (searched: 8, 16, 32).
    factors: int = 32
    # Passes over the observed pairs; 5-200 (searched: 10, 20, 40).
    epochs: int = 20
    # Observed pairs per Adam step; 256-16384 (not searched).
    batch_size: int = 4096
    # Adam learning rate; 1e-4-0.05 (not searched).
    lr: float = 0.005
    # L2 weight on the rater and item vectors (id + attributes) of each batch: mean squared
    # norm of the batch's rater vectors plus that of the item vectors scored; 1e-4-0.3
    # (searched: 1e-4-0.3; the strongest lever here).
    reg: float = 0.1
    # "softmax": cross-entropy of each observed item against every item with interactions
    # (cheap for catalogues up to ~10^5 items; it ranks the head of the list for a rater known
    # only by attributes much better); "bpr": pairwise loss against ``negatives`` samples.
    loss: str = "softmax"
    # Random negative items per observed pair (BPR only); 1-16 (not searched).
    negatives: int = 1
    # Probability that a training rater's id vector is hidden, so attributes learn to rank on
    # their own; 0 (warm raters only) to 1 (attributes only, no ids) (searched: 0.5-1).
    user_id_dropout: float = 0.5
    # The same for items; items without interactions never use their id (not searched).
    item_id_dropout: float = 0.2
    # Add a token for every pair of a rater's attribute tokens (age bin & gender, gender &
    # occupation...), so the model can tell e.g. young women from young men; rare pairs fall
    # under ``min_count`` (searched: on/off; no gain on ML-100K).
    crosses: bool = False
    # Quantile bins for each numeric rater attribute (e.g. age); 2-20 (not searched).
    numeric_bins: int = 6
    # A categorical value becomes a token when at least this many training raters/items have
    # it; rarer values are dropped (no token); 1-50 (not searched; drops most zip codes).
    min_count: int = 5
    # Early-stopping patience in epochs on val_ndcg_at_10 (with validation data); 0 = off.
    patience: int = 0
    # Adam steps that fit a new rater's extra vector to their revealed history; 0-500 (not
    # searched).
    fold_in_steps: int = 50
    # Learning rate of those fold-in steps; 1e-3-0.5 (not searched).
    fold_in_lr: float = 0.05
    # L2 weight on that extra vector: with one or two revealed items a weak pull towards zero
    # lets the vector chase those items and lose the popular ones; 0-10 (searched: 0, 0.1, 1).
    fold_in_reg: float = 1.0

    def validate(self) -> None:
        check_range("factors", self.factors, 1, 4096)
        check_range("epochs", self.epochs, 1, 100_000)
        check_range("batch_size", self.batch_size, 1, 1 << 22)
        check_range("lr", self.lr, 1e-7, 10.0)
        check_range("reg", self.reg, 0.0, 10.0)
        check_range("negatives", self.negatives, 1, 1024)
        if self.loss not in LOSSES:
            raise ConfigError("loss", f"must be one of {', '.join(LOSSES)}, got {self.loss!r}")
        check_range("user_id_dropout", self.user_id_dropout, 0.0, 1.0)
        check_range("item_id_dropout", self.item_id_dropout, 0.0, 1.0)
        check_range("numeric_bins", self.numeric_bins, 1, 1000)
        check_range("min_count", self.min_count, 1, 1_000_000)
        check_range("patience", self.patience, 0, 100_000)
        check_range("fold_in_steps", self.fold_in_steps, 0, 100_000)
        check_range("fold_in_lr", self.fold_in_lr, 1e-7, 10.0)
        check_range("fold_in_reg", self.fold_in_reg, 0.0, 1000.0)


# --- attribute tokens ---------------------------------------------------------------------------


def user_token_lists(
    frame: pd.DataFrame | None,
    edges: dict[str, list[float]],
    categorical: list[str],
    crosses: bool = False,
) -> list[list[str]]:
    """Tokens of each row of ``frame``: ``<user>``, ``col=value``, ``col#bin``, and with
    ``crosses`` every pair of those joined by ``&`` (e.g. ``age#1&gender=F``)."""
    if frame is None:
        return []
    columns: list[list[str]] = [[USER] for _ in range(len(frame))]
    for column, cuts in edges.items():
        values = pd.to_numeric(frame[column], errors="coerce") if column in frame else None
        if values is None:
            continue
        bins = np.searchsorted(np.asarray(cuts), values.to_numpy(dtype=np.float64), side="right")
        for row, (value, bin_) in enumerate(zip(values.isna(), bins, strict=True)):
            if not value:
                columns[row].append(f"{column}#{bin_}")
    for column in categorical:
        if column not in frame:
            continue
        for row, value in enumerate(frame[column].to_numpy(dtype=object)):
            if not pd.isna(value):
                columns[row].append(f"{column}={value}")
    if crosses:
        columns = [tokens + _pairs(tokens[1:]) for tokens in columns]
    return columns


def _pairs(tokens: list[str]) -> list[str]:
    return [f"{a}&{b}" for i, a in enumerate(tokens) for b in tokens[i + 1 :]]


def item_token_lists(frame: pd.DataFrame | None, n_items: int) -> list[list[str]]:
    """Tokens of each row: ``<item>``, ``genre=X`` per genre, ``decade=D`` from the title."""
    tokens: list[list[str]] = [[ITEM] for _ in range(n_items)]
    if frame is None:
        return tokens
    genres = frame["genres"] if "genres" in frame else pd.Series([None] * len(frame))
    titles = frame["title"] if "title" in frame else pd.Series([None] * len(frame))
    for row, (names, title) in enumerate(zip(genres, titles, strict=True)):
        if isinstance(names, list | tuple | np.ndarray):
            tokens[row] += [f"genre={g}" for g in names]
        match = _YEAR.search(title) if isinstance(title, str) else None
        if match:
            tokens[row].append(f"decade={int(match.group(1)) // 10 * 10}")
    return tokens


def _numeric_edges(frame: pd.DataFrame, bins: int) -> dict[str, list[float]]:
    """Inner quantile cut points of each numeric column (e.g. age)."""
    edges = {}
    for column in frame.columns:
        if pd.api.types.is_numeric_dtype(frame[column]) and not pd.api.types.is_bool_dtype(
            frame[column]
        ):
            values = frame[column].dropna().to_numpy(dtype=np.float64)
            quantiles = (
                np.quantile(values, np.linspace(0, 1, bins + 1)[1:-1]) if len(values) else []
            )
            edges[str(column)] = sorted({float(q) for q in quantiles})
    return edges


@dataclass(frozen=True)
class TokenBags:
    """Padded token bags: ``index`` int64 (n, m) (0 = padding), ``weight`` float32 (n, m)."""

    index: torch.Tensor
    weight: torch.Tensor


def token_bags(lists: list[list[str]], vocabulary: dict[str, int]) -> TokenBags:
    """Known tokens of each list; genre-like groups share weight 1 (each of g genres: 1/g)."""
    kept = [[t for t in tokens if t in vocabulary] for tokens in lists]
    width = max((len(tokens) for tokens in kept), default=1) or 1
    index = np.zeros((len(kept), width), dtype=np.int64)
    weight = np.zeros((len(kept), width), dtype=np.float32)
    for row, tokens in enumerate(kept):
        groups = Counter(token.split("=", 1)[0] for token in tokens)
        for col, token in enumerate(tokens):
            index[row, col] = vocabulary[token]
            weight[row, col] = 1.0 / groups[token.split("=", 1)[0]]
    return TokenBags(torch.as_tensor(index), torch.as_tensor(weight))


def _aligned(frame: pd.DataFrame | None, ids: list[str]) -> pd.DataFrame | None:
    if frame is None:
        return None
    frame = frame.copy()
    frame.index = frame.index.astype(str)
    return frame.reindex(ids)


# --- the model ----------------------------------------------------------------------------------


class SideFeaturesNet(nn.Module):
    """Token vectors and biases, plus id vectors for raters and items and id biases for items."""

    def __init__(self, n_users: int, n_items: int, n_tokens: int, factors: int) -> None:
        super().__init__()
        self.user = nn.Embedding(n_users, factors)
        self.item = nn.Embedding(n_items, factors)
        self.item_bias = nn.Embedding(n_items, 1)
        self.token = nn.Embedding(n_tokens, factors, padding_idx=0)
        self.token_bias = nn.Embedding(n_tokens, 1, padding_idx=0)
        for table in (self.user, self.item, self.token):
            nn.init.normal_(table.weight, std=0.05)
        nn.init.zeros_(self.item_bias.weight)
        nn.init.zeros_(self.token_bias.weight)

    def bag(self, bags: TokenBags, rows: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Weighted sums of token vectors (len(rows), f) and biases (len(rows),)."""
        index, weight = bags.index[rows], bags.weight[rows]
        vectors = (self.token(index) * weight[:, :, None]).sum(1)
        biases = (self.token_bias(index)[:, :, 0] * weight).sum(1)
        return vectors, biases


class SideFeatures(Recommender):
    """Hybrid FM: raters and items as sums of id and attribute vectors, trained with BPR."""

    name: ClassVar[str] = "side_features"
    uses_item_content: ClassVar[bool] = True
    config_class: ClassVar[type[AlgorithmConfig]] = SideFeaturesConfig
    trains_in_epochs: ClassVar[bool] = True
    contract_config: ClassVar[dict[str, Any]] = {
        "factors": 16,
        "epochs": 40,
        "batch_size": 256,
        "lr": 0.05,
        "user_id_dropout": 0.0,
        "item_id_dropout": 0.0,
    }
    config: SideFeaturesConfig

    def __init__(self, config: SideFeaturesConfig | None = None) -> None:
        super().__init__(config)
        self.net: SideFeaturesNet | None = None
        self.tokens: list[str] = []
        self.edges: dict[str, list[float]] = {}
        self.categorical: list[str] = []
        self.user_bags: TokenBags | None = None
        self.item_bags: TokenBags | None = None
        self.warm: torch.Tensor | None = None

    # --- fitting ---

    def fit(
        self,
        data: Interactions,
        options: TrainOptions | None = None,
        on_epoch: EpochCallback | None = None,
    ) -> None:
        options = options or TrainOptions()
        ctx = prepare(options)
        self.n_users, self.n_items = data.n_users, data.n_items
        self.warm = torch.as_tensor(data.item_popularity() > 0)
        self._build_vocabulary(data)
        logger.info("side_features: %d attribute tokens", len(self.tokens) - 1)
        self.net = SideFeaturesNet(
            self.n_users, self.n_items, len(self.tokens), self.config.factors
        ).to(ctx.device)
        self._train(data, ctx, options, on_epoch)

    def _build_vocabulary(self, data: Interactions) -> None:
        users = _aligned(data.user_features, data.users.ids())
        items = _aligned(data.item_features, data.items.ids())
        if users is not None:
            self.edges = _numeric_edges(users, self.config.numeric_bins)
            self.categorical = [str(c) for c in users.columns if str(c) not in self.edges]
        user_lists = user_token_lists(users, self.edges, self.categorical, self.config.crosses) or [
            [USER] for _ in range(self.n_users)
        ]
        item_lists = item_token_lists(items, self.n_items)
        warm = self.warm.numpy()  # type: ignore[union-attr]
        # Count item tokens on items with interactions only: a token only cold items carry
        # would keep its random initial vector.
        counts = Counter(t for tokens in user_lists for t in set(tokens))
        counts.update(t for row, tokens in enumerate(item_lists) if warm[row] for t in set(tokens))
        always = {USER, ITEM}
        kept = sorted(t for t, c in counts.items() if c >= self.config.min_count or t in always)
        self.tokens = [PAD, *kept]
        vocabulary = self._vocabulary()
        self.user_bags = token_bags(user_lists, vocabulary)
        self.item_bags = token_bags(item_lists, vocabulary)

    def _vocabulary(self) -> dict[str, int]:
        return {token: index for index, token in enumerate(self.tokens)}

    def _train(
        self,
        data: Interactions,
        ctx: TrainContext,
        options: TrainOptions,
        on_epoch: EpochCallback | None,
    ) -> None:
        net, cfg = self._require_fitted(), self.config
        self._to(ctx.device)
        warm_items = torch.nonzero(self.warm).ravel().to(ctx.device)  # type: ignore[arg-type]
        matrix = data.matrix(binary=True).tocoo()
        users = torch.as_tensor(matrix.row, dtype=torch.int64, device=ctx.device)
        items = torch.as_tensor(matrix.col, dtype=torch.int64, device=ctx.device)
        optimizer = torch.optim.Adam(net.parameters(), lr=cfg.lr)
        # Position of each item among the warm items: the softmax's class index.
        warm_position = torch.cumsum(self.warm.to(ctx.device).long(), 0) - 1  # type: ignore[union-attr]

        def train_epoch(epoch: int) -> float:
            total, batches = 0.0, 0
            for index in ctx.batches(len(users), cfg.batch_size):
                optimizer.zero_grad()
                if cfg.loss == "softmax":
                    targets = warm_position[items[index]]
                    loss = self._softmax_loss(ctx, users[index], targets, warm_items)
                else:
                    pick = torch.randint(
                        len(warm_items), (len(index), cfg.negatives),
                        generator=ctx.generator, device=ctx.device,
                    )  # fmt: skip
                    loss = self._batch_loss(ctx, users[index], items[index], warm_items[pick])
                loss.backward()
                optimizer.step()
                total, batches = total + float(loss.detach()), batches + 1
            return total / max(batches, 1)

        run_epochs(
            self, net, train_epoch, epochs=cfg.epochs, options=options,
            on_epoch=on_epoch, patience=cfg.patience,
        )  # fmt: skip
        net.eval()

    def _to(self, device: torch.device) -> None:
        assert self.user_bags is not None
        assert self.item_bags is not None
        move = lambda bags: TokenBags(bags.index.to(device), bags.weight.to(device))  # noqa: E731
        self.user_bags, self.item_bags = move(self.user_bags), move(self.item_bags)

    def _user_side(self, ctx: TrainContext, users: torch.Tensor) -> torch.Tensor:
        """Training vectors (b, f) of ``users``: attributes plus (not dropped) ids."""
        net = self._require_fitted()
        assert self.user_bags is not None
        keep = self._keep(len(users), self.config.user_id_dropout, ctx)
        return net.bag(self.user_bags, users)[0] + keep[:, None] * net.user(users)

    def _item_side(
        self, ctx: TrainContext, items: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Training vectors (n, f) and biases (n,) of ``items``, ids dropped at random."""
        net = self._require_fitted()
        assert self.item_bags is not None
        keep = self._keep(len(items), self.config.item_id_dropout, ctx)
        vectors, biases = net.bag(self.item_bags, items)
        vectors = vectors + keep[:, None] * net.item(items)
        return vectors, biases + keep * net.item_bias(items)[:, 0]

    def _softmax_loss(
        self,
        ctx: TrainContext,
        users: torch.Tensor,
        targets: torch.Tensor,
        warm_items: torch.Tensor,
    ) -> torch.Tensor:
        """Cross-entropy of each observed item against every warm item.

        users: int64 (b,); targets: int64 (b,) positions in ``warm_items``.
        """
        user_vectors = self._user_side(ctx, users)
        item_vectors, item_biases = self._item_side(ctx, warm_items)
        logits = user_vectors @ item_vectors.T + item_biases
        penalty = user_vectors.square().sum(1).mean() + item_vectors.square().sum(1).mean()
        return F.cross_entropy(logits, targets) + self.config.reg * penalty

    def _batch_loss(
        self,
        ctx: TrainContext,
        users: torch.Tensor,
        positives: torch.Tensor,
        negatives: torch.Tensor,
    ) -> torch.Tensor:
        """BPR loss; users/positives int64 (b,), negatives int64 (b, k)."""
        cfg = self.config
        user_vectors = self._user_side(ctx, users)
        items = torch.cat([positives[:, None], negatives], dim=1).reshape(-1)
        item_vectors, item_biases = self._item_side(ctx, items)
        b = len(users)
        scores = torch.bmm(item_vectors.view(b, -1, cfg.factors), user_vectors[:, :, None])
        scores = scores[:, :, 0] + item_biases.view(b, -1)
        ranking = F.softplus(scores[:, 1:] - scores[:, :1]).mean()
        # L2 on the summed representations: it reaches ids and attribute vectors alike.
        penalty = user_vectors.square().sum() + item_vectors.square().sum() / scores.shape[1]
        return ranking + cfg.reg * penalty / b

    @staticmethod
    def _keep(n: int, dropout: float, ctx: TrainContext) -> torch.Tensor:
        """float (n,): 1 where the id vector is used this step, 0 where it is dropped."""
        draws = torch.rand(n, generator=ctx.generator, device=ctx.device)
        return (draws >= dropout).float()

    # --- scoring ---

    @torch.no_grad()
    def item_vectors(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Every item's vector (n_items, f) and bias (n_items,); no id for cold items."""
        net = self._require_fitted()
        assert self.item_bags is not None
        assert self.warm is not None
        rows = torch.arange(self.n_items, device=net.item.weight.device)
        vectors, biases = net.bag(self.item_bags, rows)
        warm = self.warm.to(vectors.device).float()
        vectors = vectors + warm[:, None] * net.item.weight
        return vectors, biases + warm * net.item_bias.weight[:, 0]

    def score(self, batch: UserBatch) -> np.ndarray:
        with torch.no_grad():
            vectors, biases = self.item_vectors()
            users = self._user_vectors(batch, vectors, biases)
            return (users @ vectors.T + biases).cpu().numpy().astype(np.float32)

    def _user_vectors(
        self, batch: UserBatch, vectors: torch.Tensor, biases: torch.Tensor
    ) -> torch.Tensor:
        """(b, f): id + attributes for known raters; attributes + fold-in for new ones."""
        net = self._require_fitted()
        assert self.user_bags is not None
        device = net.user.weight.device
        user_idx = torch.as_tensor(batch.user_idx, dtype=torch.int64, device=device)
        known = user_idx >= 0
        result = torch.zeros(len(user_idx), self.config.factors, device=device)
        attributes, _ = net.bag(self.user_bags, user_idx[known])
        result[known] = attributes + net.user(user_idx[known])
        if not bool(known.all()):
            unknown = (~known).nonzero().ravel().cpu().numpy()
            base = self._attribute_vectors(batch, unknown)
            result[unknown] = base + self._fold_in(batch.history[unknown], base, vectors, biases)
        return result

    def _attribute_vectors(self, batch: UserBatch, rows: np.ndarray) -> torch.Tensor:
        """Attribute vectors (len(rows), f) of new raters from ``batch.user_features``."""
        net = self._require_fitted()
        frame = batch.user_features.iloc[rows] if batch.user_features is not None else None
        lists = user_token_lists(frame, self.edges, self.categorical, self.config.crosses)
        lists = lists or [[USER]] * len(rows)
        bags = token_bags(lists, self._vocabulary())
        device = net.token.weight.device
        bags = TokenBags(bags.index.to(device), bags.weight.to(device))
        return net.bag(bags, torch.arange(len(rows), device=device))[0]

    def _fold_in(
        self,
        history: sp.csr_matrix,
        base: torch.Tensor,
        vectors: torch.Tensor,
        biases: torch.Tensor,
    ) -> torch.Tensor:
        """An extra vector per new rater fitted to their history (zeros when it is empty)."""
        reg = self.config.fold_in_reg

        def loss_fn(params, rows, positives, negatives):  # noqa: ANN001, ANN202 - see fold_in
            users = base[rows] + params[0][rows]
            margin = (users * (vectors[positives] - vectors[negatives])).sum(1)
            margin = margin + biases[positives] - biases[negatives]
            return (-F.logsigmoid(margin)).mean() + reg * params[0][rows].square().sum(1).mean()

        (extra,) = fold_in(
            loss_fn,
            [torch.zeros_like(base)],
            history,
            steps=self.config.fold_in_steps,
            lr=self.config.fold_in_lr,
        )
        return extra

    # --- state ---

    def get_state(self) -> dict[str, Any]:
        net = self._require_fitted()
        assert self.user_bags is not None
        assert self.item_bags is not None
        return {
            "net": {key: value.detach().cpu() for key, value in net.state_dict().items()},
            "tokens": list(self.tokens),
            "edges": {column: list(cuts) for column, cuts in self.edges.items()},
            "categorical": list(self.categorical),
            "user_index": self.user_bags.index.cpu(),
            "user_weight": self.user_bags.weight.cpu(),
            "item_index": self.item_bags.index.cpu(),
            "item_weight": self.item_bags.weight.cpu(),
            "warm": self.warm.cpu(),  # type: ignore[union-attr]
        }

    @classmethod
    def from_state(cls, config: AlgorithmConfig, state: dict[str, Any]) -> SideFeatures:
        assert isinstance(config, SideFeaturesConfig)
        model = cls(config)
        model.tokens = list(state["tokens"])
        model.edges = {str(k): [float(x) for x in v] for k, v in state["edges"].items()}
        model.categorical = list(state["categorical"])
        model.user_bags = TokenBags(state["user_index"], state["user_weight"])
        model.item_bags = TokenBags(state["item_index"], state["item_weight"])
        model.warm = state["warm"]
        weights = state["net"]
        model.n_users, model.n_items = len(weights["user.weight"]), len(weights["item.weight"])
        model.net = SideFeaturesNet(model.n_users, model.n_items, len(model.tokens), config.factors)
        model.net.load_state_dict(weights)
        model.net.eval()
        return model

    def _require_fitted(self) -> SideFeaturesNet:
        if self.net is None:
            raise RuntimeError("SideFeatures is not fitted")
        return self.net
