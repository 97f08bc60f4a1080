"""The shared epoch loop for torch models (DESIGN.md, data flow step 6).

A torch recommender calls :func:`prepare` first (so seeding covers weight initialisation),
builds its network, writes a ``train_epoch(epoch) -> mean loss`` closure and hands both to
:func:`run_epochs`. The loop owns what every model needs alike: seeding, thread count, timing,
per-epoch metrics for the ``on_epoch`` callback, cancellation, validation and early stopping
with the best weights restored. :func:`fold_in` fits free parameters (e.g. a new user's
embedding) against frozen item parameters, which every embedding model needs for raters it has
never seen.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import scipy.sparse as sp
import torch
from torch import nn

if TYPE_CHECKING:
    # Types only: importing recommender.algorithms here would run its registry, whose models
    # import this module, so importing this module first would be circular.
    from recommender.algorithms.base import (
        EpochCallback,
        Recommender,
        TrainOptions,
        ValidationData,
    )
    from recommender.data import Interactions

logger = logging.getLogger(__name__)

#: Batches per epoch under ``TrainOptions.dry_run``: enough to exercise the loop, cheap in tests.
DRY_RUN_BATCHES = 2
#: Largest users × items for which PairSampler keeps a dense membership table (64 MB of bool).
DENSE_LOOKUP_CELLS = 1 << 26
#: The validation metric early stopping watches; higher is better.
MONITOR = "val_ndcg_at_10"


class TrainingCancelled(Exception):
    """Raised by an ``on_epoch`` callback to stop training; it propagates out of ``fit``."""


@dataclass(frozen=True)
class TrainContext:
    """Everything random or device-bound that one ``fit`` call shares.

    Attributes:
        device: where tensors live.
        generator: torch generator on ``device`` for sampling (shuffles, negatives).
        rng: numpy generator for any numpy-side randomness.
        dry_run: limit every epoch to :data:`DRY_RUN_BATCHES` batches.
    """

    device: torch.device
    generator: torch.Generator
    rng: np.random.Generator
    dry_run: bool = False

    def batches(self, n: int, batch_size: int, shuffle: bool = True) -> Iterator[torch.Tensor]:
        """Yield int64 index tensors on ``device`` that cover ``range(n)`` in chunks."""
        if shuffle:
            order = torch.randperm(n, generator=self.generator, device=self.device)
        else:
            order = torch.arange(n, device=self.device)
        for number, start in enumerate(range(0, n, batch_size)):
            if self.dry_run and number >= DRY_RUN_BATCHES:
                return
            yield order[start : start + batch_size]


@dataclass
class TrainResult:
    """What happened in :func:`run_epochs`.

    Attributes:
        epochs_run: epochs completed (early stopping may end before the configured number).
        best_epoch: the epoch whose weights the module holds now (the last one without validation).
        history: the metrics dict of every epoch, as passed to ``on_epoch``.
        stopped_early: patience ran out before the configured number of epochs.
        validated: the epochs were scored on validation data, so ``best_epoch`` was chosen
            by :data:`MONITOR` (and is the epoch count a refit on more data should train).
    """

    epochs_run: int = 0
    best_epoch: int = 0
    history: list[dict[str, float]] = field(default_factory=list)
    stopped_early: bool = False
    validated: bool = False


def resolve_device(name: str) -> torch.device:
    """The requested device, or CPU with a warning when CUDA is asked for but absent."""
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        logger.warning("device %s requested but CUDA is unavailable; training on cpu", name)
        return torch.device("cpu")
    return device


def prepare(options: TrainOptions) -> TrainContext:
    """Seed numpy and torch from ``options.seed`` and pick the device.

    Call it before building the network so that weight initialisation is reproducible too.
    """
    device = resolve_device(options.device)
    torch.manual_seed(options.seed)
    generator = torch.Generator(device=device)
    generator.manual_seed(options.seed)
    return TrainContext(device, generator, options.rng(), options.dry_run)


@contextmanager
def torch_threads(threads: int) -> Iterator[None]:
    """Run the block with ``threads`` intra-op threads (0 keeps the current setting)."""
    previous = torch.get_num_threads()
    if threads > 0:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def run_epochs(
    model: Recommender,
    module: nn.Module,
    train_epoch: Callable[[int], float],
    *,
    epochs: int,
    options: TrainOptions,
    on_epoch: EpochCallback | None = None,
    patience: int = 0,
) -> TrainResult:
    """Run ``train_epoch`` for up to ``epochs`` epochs, validating and reporting after each.

    Args:
        model: the recommender being fitted; ``model.score`` must reflect ``module``'s weights,
            because validation scores through it.
        module: the network whose weights early stopping snapshots and restores.
        train_epoch: trains one epoch (numbered from 1) and returns its mean training loss.
        epochs: the configured number; ``options.epochs`` caps it (1 under dry_run).
        options: seed, threads, validation data, caps.
        on_epoch: receives ``(epoch, {"train_loss", "val_ndcg_at_10"?, "epoch_seconds"})``;
            it may raise :class:`TrainingCancelled`, which propagates.
        patience: with validation data, stop after this many epochs without a better
            ``val_ndcg_at_10`` and restore the best weights; 0 trains all epochs but still
            restores the best.

    Returns:
        A :class:`TrainResult`, also kept on ``model.train_result``; ``module`` holds the best
        (or last) weights.
    """
    result = TrainResult(validated=options.validation is not None)
    if model is not None:  # unit tests drive the loop without a model
        model.train_result = result
    best_score, best_state = -np.inf, None
    with torch_threads(options.threads):
        for epoch in range(1, options.epochs(epochs) + 1):
            metrics = _train_one(module, train_epoch, epoch)
            if options.validation is not None:
                module.eval()
                metrics.update(validation_scores(model, options.validation))
            result.history.append(metrics)
            result.epochs_run = epoch
            logger.debug("epoch %s: %s", epoch, metrics)
            if on_epoch is not None:
                on_epoch(epoch, metrics)
            score = metrics.get(MONITOR)
            if score is None or score > best_score:
                best_score = score if score is not None else -np.inf
                result.best_epoch = epoch
                best_state = _snapshot(module) if score is not None else None
            elif patience and epoch - result.best_epoch >= patience:
                logger.info("early stop at epoch %s (best %s)", epoch, result.best_epoch)
                result.stopped_early = True
                break
    if best_state is not None and result.best_epoch != result.epochs_run:
        module.load_state_dict(best_state)
    return result


def _train_one(module: nn.Module, train_epoch: Callable[[int], float], epoch: int) -> dict:
    module.train()
    started = time.perf_counter()
    loss = float(train_epoch(epoch))
    return {"train_loss": loss, "epoch_seconds": time.perf_counter() - started}


def validation_scores(model: Recommender, validation: ValidationData) -> dict[str, float]:
    """``val_ndcg_at_10`` and friends of ``model`` on ``validation`` (the P1 definitions)."""
    # Imported here: the evaluation package imports the algorithms, which import this module.
    from recommender.evaluation.protocols import validation_metrics

    with torch.no_grad():
        metrics = validation_metrics(model, validation, k=10)
    return {key: float(value) for key, value in metrics.items()}


def _snapshot(module: nn.Module) -> dict[str, torch.Tensor]:
    return {key: value.detach().clone() for key, value in module.state_dict().items()}


def fold_in(
    loss_fn: Callable[[list[torch.Tensor], torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor],
    params: list[torch.Tensor],
    history: sp.csr_matrix,
    *,
    steps: int,
    lr: float,
    samples: int = 64,
    seed: int = 0,
) -> list[torch.Tensor]:
    """Fit per-user parameters to each user's history with everything else frozen.

    Each step samples, per user, ``samples`` (positive, random item) pairs: positives uniformly
    from the user's history, the others uniformly from the catalogue, and takes an Adam step on
    ``loss_fn``. Sampling is seeded, so the same history always gives the same parameters.

    Args:
        loss_fn: ``(params, rows, positives, negatives) -> scalar loss``; ``rows`` index the
            users of the batch (int64, shape (m,)), ``positives``/``negatives`` item indices
            (int64, shape (m,)). Regularisation belongs inside it.
        params: initial per-user tensors, each of shape (b, ...); copied, not modified.
        history: CSR, shape (b, n_items); users with an empty row keep their initial values.
        steps: Adam steps.
        lr: Adam learning rate.
        samples: pairs per user and step.
        seed: seeds the sampler.

    Returns:
        The fitted tensors, detached, in the order of ``params``.
    """
    fitted = [p.detach().clone().requires_grad_(True) for p in params]
    rows, starts, lengths = _sampling_rows(history, params[0].device)
    if len(rows) == 0 or steps == 0:
        return [p.detach() for p in fitted]
    columns = torch.as_tensor(history.indices, dtype=torch.int64, device=params[0].device)
    generator = torch.Generator(device=params[0].device)
    generator.manual_seed(seed)
    optimizer = torch.optim.Adam(fitted, lr=lr)
    rows = rows.repeat_interleave(samples)
    starts, lengths = starts.repeat_interleave(samples), lengths.repeat_interleave(samples)
    n_items = history.shape[1]
    with torch.enable_grad():
        for _ in range(steps):
            offsets = torch.rand(len(rows), generator=generator, device=rows.device) * lengths
            positives = columns[starts + offsets.long()]
            negatives = torch.randint(
                n_items, (len(rows),), generator=generator, device=rows.device
            )
            optimizer.zero_grad()
            loss_fn(fitted, rows, positives, negatives).backward()
            optimizer.step()
    return [p.detach() for p in fitted]


def _sampling_rows(
    history: sp.csr_matrix, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Rows with at least one interaction, with their CSR start offsets and lengths."""
    lengths = np.diff(history.indptr)
    rows = np.flatnonzero(lengths)
    as_tensor = lambda a: torch.as_tensor(a, dtype=torch.int64, device=device)  # noqa: E731
    return as_tensor(rows), as_tensor(history.indptr[rows]), as_tensor(lengths[rows])


class PairSampler:
    """Observed (user, item) pairs and uniform negative items, vectorised in torch."""

    #: Resampling rounds for negatives that hit a user's own items; the rest are kept (rare).
    RESAMPLE_ROUNDS = 3

    def __init__(self, data: Interactions, ctx: TrainContext) -> None:
        matrix = data.matrix(binary=True).tocoo()
        self.ctx = ctx
        self.n_items = data.n_items
        self.users = torch.as_tensor(matrix.row, dtype=torch.int64, device=ctx.device)
        self.items = torch.as_tensor(matrix.col, dtype=torch.int64, device=ctx.device)
        keys = self.users * self.n_items + self.items
        self.dense: torch.Tensor | None = None
        self.keys: torch.Tensor | None = None
        if data.n_users * data.n_items <= DENSE_LOOKUP_CELLS:
            # A flat bool table makes "does u have j" one gather (ML-100K: 1.6 MB).
            self.dense = torch.zeros(
                data.n_users * data.n_items, dtype=torch.bool, device=ctx.device
            )
            self.dense[keys] = True
        else:
            # Sorted keys make it a binary search: ~10x slower, but memory stays O(pairs).
            self.keys = torch.sort(keys).values

    def __len__(self) -> int:
        return len(self.users)

    def epoch(self, batch_size: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Yield (users, items) batches of observed pairs, shuffled."""
        for index in self.ctx.batches(len(self), batch_size):
            yield self.users[index], self.items[index]

    def negatives(self, users: torch.Tensor, count: int) -> torch.Tensor:
        """Uniform random items per user, shape (b, count), mostly outside the user's history."""
        shape = (len(users), count)
        generator, device = self.ctx.generator, self.ctx.device
        items = torch.randint(self.n_items, shape, generator=generator, device=device)
        for _ in range(self.RESAMPLE_ROUNDS):
            seen = self.contains(users[:, None].expand(shape), items)
            if not bool(seen.any()):
                break
            fresh = torch.randint(self.n_items, shape, generator=generator, device=device)
            items = torch.where(seen, fresh, items)
        return items

    def contains(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        """Whether each (user, item) pair was observed; same shape as the inputs."""
        keys = users * self.n_items + items
        if self.dense is not None:
            return self.dense[keys]
        assert self.keys is not None
        position = torch.searchsorted(self.keys, keys).clamp(max=len(self.keys) - 1)
        return self.keys[position] == keys
