"""What GRU4Rec and SASRec share: next-item training on whole sequences, and serving from them.

A sequence model reads a user's items in time order and predicts the next one. Training feeds
each user's sequence once and asks for the next item at *every* position (the SASRec paper's
scheme), so one epoch is a few batches of whole sequences rather than one example per prefix.
The loss is a full softmax cross-entropy over the catalogue, which is cheap at MovieLens scale
(a (tokens × items) matrix product) and avoids the noise of sampled negatives.

Layout: item index ``i`` is token ``i + 1``; token 0 pads. Sequences are right-padded, so the
causal encoders never let a real position see padding, and the state after the last real item
is the user's representation. Scores are ``h · e_j + b_j`` with the input item embeddings
``e`` tied to the output (fewer parameters, better on sparse items) and an output bias ``b``
that carries item popularity, so a user with no history gets ``b`` alone.

A concrete model subclasses :class:`SequenceRecommender` and supplies a config (with the fields
of :class:`SequenceConfig`) and a :class:`SequenceNet` whose ``encode`` is causal.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import scipy.sparse as sp
import torch
import torch.nn.functional as F
from torch import nn

# A module import, not names: recommender.training imports this package (through base), so
# its names may not exist yet while the registry is being imported.
from recommender import training
from recommender.algorithms.base import (
    AlgorithmConfig,
    ConfigError,
    EpochCallback,
    Recommender,
    TrainOptions,
    check_range,
)
from recommender.data import Interactions, UserBatch

PAD = 0
IGNORE = -100  # F.cross_entropy's default ignore_index: padded targets add nothing to the loss
EXCLUDE = ("none", "past", "user")
#: Users scored per forward pass; bounds the (users × positions × hidden) activations.
SCORE_BATCH = 256
#: Largest (users × items) exclusion mask kept dense for a whole fit (bytes, as bool).
DENSE_MASK_CELLS = 200_000_000


@dataclass(frozen=True)
class SequenceConfig(AlgorithmConfig):
    """Fields every sequence model has; subclasses set their own defaults and add fields."""

    # Longest history the model reads, in interactions; 20-500. Training splits longer
    # sequences into windows of this length; scoring reads the latest max_len interactions.
    max_len: int = 50
    # Width of the item embeddings (and of the hidden state that is scored against them).
    hidden: int = 64
    # Dropout on embeddings and hidden layers while training; 0-0.7.
    dropout: float = 0.2
    # Passes over all training sequences (an upper bound with patience); 1-1000.
    epochs: int = 100
    # Sequences (windows) per Adam step; 16-1024.
    batch_size: int = 64
    # Adam learning rate; 1e-4-1e-2.
    lr: float = 1e-3
    # Adam L2 weight decay; 0-1e-3.
    weight_decay: float = 0.0
    # Early-stopping patience in epochs on val_ndcg_at_10 (only with validation data); 0 = off.
    patience: int = 5
    # Which of the user's own items leave each position's softmax (the target always stays):
    # "none" (plain softmax), "past" (items before the position: serving never recommends
    # them) or "user" (every other training item of the user: the candidates at serving and in
    # P3 are items the user never had, so the target competes only with those).
    exclude: str = "user"
    # Interactions at most this many seconds apart count as simultaneous: their order is drawn
    # afresh every epoch (see TieShuffler). -1 keeps the recorded order; 0 shuffles exact ties.
    tie_seconds: int = -1

    def validate(self) -> None:
        check_range("max_len", self.max_len, 1, 10_000)
        check_range("hidden", self.hidden, 1, 4096)
        check_range("dropout", self.dropout, 0.0, 0.9)
        check_range("epochs", self.epochs, 1, 10_000)
        check_range("batch_size", self.batch_size, 1, 1 << 16)
        check_range("lr", self.lr, 1e-7, 10.0)
        check_range("weight_decay", self.weight_decay, 0.0, 1.0)
        check_range("patience", self.patience, 0, 10_000)
        check_range("tie_seconds", self.tie_seconds, -1, 10**9)
        if self.exclude not in EXCLUDE:
            raise ConfigError("exclude", f"must be one of {', '.join(EXCLUDE)}")


class SequenceNet(nn.Module):
    """Item embeddings tied to the output, an output bias, and a causal encoder (subclasses)."""

    def __init__(self, n_items: int, hidden: int) -> None:
        super().__init__()
        self.item = nn.Embedding(n_items + 1, hidden, padding_idx=PAD)
        self.bias = nn.Parameter(torch.zeros(n_items))
        nn.init.normal_(self.item.weight, std=hidden**-0.5)
        with torch.no_grad():
            self.item.weight[PAD].zero_()

    def encode(self, tokens: torch.Tensor) -> torch.Tensor:
        """tokens int64 (b, L), right-padded → hidden states (b, L, hidden).

        Position t must depend only on tokens[:, : t + 1] (causal).
        """
        raise NotImplementedError

    def logits(self, hidden: torch.Tensor) -> torch.Tensor:
        """hidden (..., hidden) → next-item scores (..., n_items)."""
        return hidden @ self.item.weight[1:].T + self.bias


@dataclass(frozen=True)
class Windows:
    """Training windows: inputs and next-item targets at every position.

    Attributes:
        tokens: int64 (w, L), item tokens (index + 1), right-padded with 0.
        targets: int64 (w, L), the item index that follows each position, IGNORE on padding.
        lengths: int64 (w,), real positions per window.
        users: int64 (w,), the sequence (user) each window was cut from.
    """

    tokens: torch.Tensor
    targets: torch.Tensor
    lengths: torch.Tensor
    users: torch.Tensor


def training_windows(sequences: Sequence[np.ndarray], max_len: int) -> Windows:
    """Cut each sequence into windows of ``max_len + 1`` items, from the newest backwards.

    Consecutive windows overlap by one item so that every item except a user's first is a
    target exactly once. A user with fewer than two items gives no window (nothing to predict).
    """
    rows: list[np.ndarray] = []
    users: list[int] = []
    for user, sequence in enumerate(sequences):
        end = len(sequence)
        while end >= 2:
            start = max(0, end - max_len - 1)
            rows.append(np.asarray(sequence[start:end], dtype=np.int64))
            users.append(user)
            end = start + 1
    lengths = np.array([len(r) - 1 for r in rows], dtype=np.int64)
    width = int(lengths.max(initial=1))
    tokens = np.zeros((len(rows), width), dtype=np.int64)
    targets = np.full((len(rows), width), IGNORE, dtype=np.int64)
    for n, row in enumerate(rows):
        tokens[n, : len(row) - 1] = row[:-1] + 1
        targets[n, : len(row) - 1] = row[1:]
    as_tensor = torch.from_numpy
    return Windows(
        as_tensor(tokens), as_tensor(targets), as_tensor(lengths), torch.tensor(users).long()
    )


def latest_tokens(sequences: Sequence[np.ndarray], max_len: int) -> tuple[np.ndarray, np.ndarray]:
    """The latest ``max_len`` items of each sequence as right-padded tokens.

    Returns:
        tokens int64 (b, L) with L = the longest kept sequence (at least 1), and lengths (b,).
    """
    kept = [np.asarray(s, dtype=np.int64)[-max_len:] if max_len else s for s in sequences]
    lengths = np.array([len(s) for s in kept], dtype=np.int64)
    tokens = np.zeros((len(kept), max(int(lengths.max(initial=0)), 1)), dtype=np.int64)
    for n, sequence in enumerate(kept):
        tokens[n, : len(sequence)] = sequence + 1
    return tokens, lengths


def history_sequences(history: sp.csr_matrix) -> list[np.ndarray]:
    """Stand-in sequences when a batch has none: each row's items in index order.

    The order of those interactions is unknown, so this is only a fallback; callers that know
    the order pass ``UserBatch.sequences``.
    """
    history = history.tocsr()
    bounds = zip(history.indptr[:-1], history.indptr[1:], strict=True)
    return [np.sort(history.indices[a:b]) for a, b in bounds]


def length_batches(
    lengths: torch.Tensor, batch_size: int, ctx: training.TrainContext
) -> list[torch.Tensor]:
    """Shuffled batches of windows of similar length (little padding), in shuffled order."""
    order = torch.randperm(len(lengths), generator=ctx.generator)
    order = order[torch.argsort(lengths[order], stable=True)]
    batches = list(torch.split(order, batch_size))
    shuffled = torch.randperm(len(batches), generator=ctx.generator).tolist()
    batches = [batches[n] for n in shuffled]
    return batches[: training.DRY_RUN_BATCHES] if ctx.dry_run else batches


class TieShuffler:
    """Each user's items in time order, with near-simultaneous interactions in random order.

    Interactions at most ``tie_seconds`` apart (chained: a run of such gaps counts as one
    moment) have no reliable order: a rating page saves many at once, and half of ML-100K's
    consecutive ratings share their second. Drawing a fresh order for them every epoch keeps the
    model from learning the accident of the file order. A negative ``tie_seconds`` keeps the
    recorded order.
    """

    def __init__(self, data: Interactions, tie_seconds: int) -> None:
        order = np.lexsort((np.arange(len(data)), data.timestamp, data.user_idx))
        users, self.items = data.user_idx[order], data.item_idx[order]
        self.bounds = np.searchsorted(users, np.arange(data.n_users + 1))
        self.shuffles = tie_seconds >= 0
        apart = np.diff(data.timestamp[order]) > tie_seconds
        self.moment = np.r_[0, np.cumsum(apart | (np.diff(users) != 0))]

    def sequences(self, rng: np.random.Generator) -> list[np.ndarray]:
        """One int64 array of item indices per user (empty for users without items)."""
        items = self.items
        if self.shuffles:
            items = items[np.lexsort((rng.random(len(items)), self.moment))]
        return [items[a:b] for a, b in zip(self.bounds[:-1], self.bounds[1:], strict=True)]


class UserItems:
    """Which items each user has, as bool rows for the "user" exclusion mask.

    Built once per fit as a dense (users × items) bool tensor on the training device when that
    is small (ML-100K: 1.6 MB), since densifying sparse rows every batch cost a tenth of an
    epoch; larger catalogues keep the sparse matrix and densify only each batch's rows.
    """

    def __init__(self, matrix: sp.csr_matrix, device: torch.device) -> None:
        self.device = device
        self.sparse = matrix.tocsr()
        self.dense: torch.Tensor | None = None
        if matrix.shape[0] * matrix.shape[1] <= DENSE_MASK_CELLS:
            self.dense = torch.from_numpy(self.sparse.toarray() > 0).to(device)

    def rows(self, users: torch.Tensor) -> torch.Tensor:
        """bool (len(users), n_items) on the device."""
        if self.dense is not None:
            return self.dense[users.to(self.device)]
        return torch.from_numpy(self.sparse[users.numpy()].toarray() > 0).to(self.device)


@contextmanager
def evaluating(module: nn.Module) -> Iterator[None]:
    """Eval mode and no gradients for the block; the previous mode comes back after it."""
    was_training = module.training
    module.eval()
    try:
        with torch.no_grad():
            yield
    finally:
        module.train(was_training)


class SequenceRecommender(Recommender):
    """Fit/score/state for a :class:`SequenceNet`; subclasses implement :meth:`build_net`."""

    uses_history: ClassVar[bool] = True
    trains_in_epochs: ClassVar[bool] = True
    config: Any  # a SequenceConfig subclass

    def __init__(self, config: AlgorithmConfig | None = None) -> None:
        super().__init__(config)
        self.net: SequenceNet | None = None

    def build_net(self, n_items: int) -> SequenceNet:
        """A fresh network for ``n_items`` items with this model's config."""
        raise NotImplementedError

    def fit(
        self,
        data: Interactions,
        options: TrainOptions | None = None,
        on_epoch: EpochCallback | None = None,
    ) -> None:
        options = options or TrainOptions()
        ctx = training.prepare(options)
        cfg = self.config
        self.n_users, self.n_items = data.n_users, data.n_items
        self.net = net = self.build_net(data.n_items).to(ctx.device)
        orders = TieShuffler(data, cfg.tie_seconds)
        user_items = (
            UserItems(data.matrix(binary=True), ctx.device) if cfg.exclude == "user" else None
        )
        optimizer = torch.optim.Adam(net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)

        def train_epoch(epoch: int) -> float:
            windows = training_windows(orders.sequences(ctx.rng), cfg.max_len)
            total, count = 0.0, 0
            for index in length_batches(windows.lengths, cfg.batch_size, ctx):
                batch = _Batch.take(windows, index, ctx.device)
                loss = _next_item_loss(
                    net, batch, _excluded(batch, cfg.exclude, user_items, data.n_items)
                )
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                total, count = total + loss.item() * batch.size, count + batch.size
            return total / max(count, 1)

        training.run_epochs(
            self, net, train_epoch, epochs=cfg.epochs, options=options,
            on_epoch=on_epoch, patience=cfg.patience,
        )  # fmt: skip
        net.eval()

    def score(self, batch: UserBatch) -> np.ndarray:
        """Next-item scores from each user's latest ``max_len`` items, float32 (b, n_items).

        Uses ``batch.sequences`` (fresh ratings count at once); ``user_idx`` is ignored, so an
        unseen user is scored from their history like anyone else.
        """
        net = self._require_fitted()
        sequences = batch.sequences
        if sequences is None:
            sequences = history_sequences(batch.history)
        out = np.empty((len(batch), self.n_items), dtype=np.float32)
        # Chunks of users with similar history lengths carry little padding.
        by_length = np.argsort([min(len(s), self.config.max_len) for s in sequences], kind="stable")
        with evaluating(net):
            for start in range(0, len(batch), SCORE_BATCH):
                users = by_length[start : start + SCORE_BATCH]
                out[users] = self._score_chunk(net, [sequences[u] for u in users])
        return out

    def _score_chunk(self, net: SequenceNet, sequences: Sequence[np.ndarray]) -> np.ndarray:
        tokens, lengths = latest_tokens(sequences, self.config.max_len)
        device = net.bias.device
        states = net.encode(torch.as_tensor(tokens, device=device))
        last = torch.as_tensor(np.maximum(lengths - 1, 0), device=device)
        user_state = states[torch.arange(len(tokens), device=device), last]
        # No history: no state, so the output bias (learned popularity) decides alone.
        user_state = user_state * torch.as_tensor(lengths > 0, device=device)[:, None]
        return net.logits(user_state).cpu().numpy()

    def get_state(self) -> dict[str, Any]:
        net = self._require_fitted()
        state = {key: value.detach().cpu() for key, value in net.state_dict().items()}
        return {"net": state, "n_users": self.n_users}

    @classmethod
    def from_state(cls, config: AlgorithmConfig, state: dict[str, Any]) -> SequenceRecommender:
        model = cls(config)
        model.n_users = int(state["n_users"])
        model.n_items = int(state["net"]["bias"].shape[0])
        model.net = model.build_net(model.n_items)
        model.net.load_state_dict(state["net"])
        model.net.eval()
        return model

    def _require_fitted(self) -> SequenceNet:
        if self.net is None:
            raise RuntimeError(f"{self.name} is not fitted")
        return self.net


@dataclass(frozen=True)
class _Batch:
    """One training batch, trimmed to its longest window.

    Attributes:
        tokens: int64 (b, L) inputs; targets: int64 (b, L); real: bool (b, L) real positions;
        users: int64 (b,) the windows' users.
    """

    tokens: torch.Tensor
    targets: torch.Tensor
    real: torch.Tensor
    users: torch.Tensor

    @classmethod
    def take(cls, windows: Windows, index: torch.Tensor, device: torch.device) -> _Batch:
        width = int(windows.lengths[index].max())  # drop the padding shared by the whole batch
        targets = windows.targets[index, :width].to(device)
        tokens = windows.tokens[index, :width].to(device)
        return cls(tokens, targets, targets != IGNORE, windows.users[index])

    @property
    def size(self) -> int:
        """Real positions, i.e. next-item predictions, in the batch."""
        return int(self.real.sum())


def _next_item_loss(net: SequenceNet, batch: _Batch, excluded: torch.Tensor | None) -> torch.Tensor:
    """Mean softmax cross-entropy of the next item over the real positions of a batch.

    Args:
        excluded: bool (positions, n_items), items left out of each position's softmax.
    """
    logits = net.logits(net.encode(batch.tokens)[batch.real])  # (positions, n_items)
    if excluded is not None:
        logits = logits.masked_fill(excluded, -torch.inf)
    return F.cross_entropy(logits, batch.targets[batch.real])


def _excluded(
    batch: _Batch, mode: str, user_items: UserItems | None, n_items: int
) -> torch.Tensor | None:
    """bool (positions, n_items): the user's own items to leave out, never the target itself."""
    if mode == "none":
        return None
    rows, cols = batch.real.nonzero(as_tuple=True)
    if mode == "user":
        assert user_items is not None
        excluded = user_items.rows(batch.users)[rows]
    else:
        excluded = _first_positions(batch.tokens, n_items)[rows] <= cols[:, None].to(torch.int32)
    targets = batch.targets[batch.real]
    excluded[torch.arange(len(targets), device=targets.device), targets] = False
    return excluded


def _first_positions(tokens: torch.Tensor, n_items: int) -> torch.Tensor:
    """int32 (b, n_items): where each item first occurs in each window (the width if never)."""
    b, width = tokens.shape
    positions = torch.arange(width, device=tokens.device, dtype=torch.int32).expand(b, width)
    first = torch.full((b, n_items + 1), width, dtype=torch.int32, device=tokens.device)
    first.scatter_reduce_(1, tokens, positions, reduce="amin")
    return first[:, 1:]


def scaled_positions(max_len: int, hidden: int) -> nn.Embedding:
    """A learned positional embedding table, initialised small like the item table."""
    table = nn.Embedding(max_len, hidden)
    nn.init.normal_(table.weight, std=1.0 / math.sqrt(hidden))
    return table
