"""The shared epoch loop: seeding, cancellation, early stopping, dry runs, samplers, fold-in."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import torch
from torch import nn

from recommender import training
from recommender.algorithms.base import TrainOptions, ValidationData
from recommender.algorithms.bpr import BPRMF, BPRConfig
from recommender.data import UserBatch, interactions_from_frame
from recommender.training import (
    DRY_RUN_BATCHES,
    PairSampler,
    TrainingCancelled,
    fold_in,
    prepare,
    run_epochs,
    torch_threads,
)


@pytest.fixture
def blocks():
    """Two groups of 6 users; each user has 5 of their group's 6 items."""
    rows = [
        (f"u{group}{user}", f"i{group}{item}")
        for group in range(2)
        for user in range(6)
        for item in range(6)
        if item != user
    ]
    return interactions_from_frame(pd.DataFrame(rows, columns=["user_id", "item_id"]))


def _small_bpr(**overrides) -> BPRMF:
    values = {"factors": 4, "epochs": 3, "batch_size": 16, "negatives": 2} | overrides
    return BPRMF(BPRConfig(**values))


def _losses(model, data, seed):
    seen = []
    model.fit(data, TrainOptions(seed=seed), on_epoch=lambda _, m: seen.append(m["train_loss"]))
    return seen


def test_same_seed_gives_identical_losses(blocks):
    first = _losses(_small_bpr(), blocks, seed=7)
    second = _losses(_small_bpr(), blocks, seed=7)
    other = _losses(_small_bpr(), blocks, seed=8)

    assert first == second
    assert first != other


def test_metrics_are_reported_per_epoch(blocks):
    seen = []

    _small_bpr().fit(blocks, TrainOptions(seed=1), on_epoch=lambda e, m: seen.append((e, m)))

    assert [epoch for epoch, _ in seen] == [1, 2, 3]
    assert all({"train_loss", "epoch_seconds"} <= set(metrics) for _, metrics in seen)


def test_callback_raising_cancelled_stops_training(blocks):
    seen = []

    def cancel_at_two(epoch, _metrics):
        seen.append(epoch)
        if epoch == 2:
            raise TrainingCancelled

    with pytest.raises(TrainingCancelled):
        _small_bpr(epochs=10).fit(blocks, TrainOptions(seed=1), on_epoch=cancel_at_two)

    assert seen == [1, 2]


class _Scripted:
    """Runs run_epochs on a one-weight module whose weight records the epoch number."""

    def __init__(self, scores):
        self.module = nn.Linear(1, 1, bias=False)
        self.scores = iter(scores)

    def train_epoch(self, epoch):
        with torch.no_grad():
            self.module.weight.fill_(float(epoch))
        return 1.0 / epoch


@pytest.fixture
def scripted_validation(monkeypatch):
    def install(scores):
        run = _Scripted(scores)
        monkeypatch.setattr(
            training, "validation_scores", lambda *_: {"val_ndcg_at_10": next(run.scores)}
        )
        return run

    return install


def _options_with_validation(**overrides) -> TrainOptions:
    validation = ValidationData(UserBatch(np.zeros(0, dtype=np.int64), sp.csr_matrix((0, 1))), [])
    return TrainOptions(validation=validation, **overrides)


def test_early_stopping_restores_the_best_weights(scripted_validation):
    # given validation scores that peak at epoch 2
    run = scripted_validation([0.1, 0.3, 0.2, 0.25, 0.9])
    seen = []

    # when patience is 2
    result = run_epochs(
        None, run.module, run.train_epoch, epochs=5, options=_options_with_validation(),
        on_epoch=lambda e, m: seen.append(m["val_ndcg_at_10"]), patience=2,
    )  # fmt: skip

    # then training stops after two epochs without improvement, holding epoch 2's weights
    assert seen == [0.1, 0.3, 0.2, 0.25]
    assert (result.epochs_run, result.best_epoch, result.stopped_early) == (4, 2, True)
    assert run.module.weight.item() == 2.0


def test_without_patience_all_epochs_run_and_the_best_is_kept(scripted_validation):
    run = scripted_validation([0.1, 0.3, 0.2])

    result = run_epochs(
        None, run.module, run.train_epoch, epochs=3, options=_options_with_validation()
    )

    assert (result.epochs_run, result.best_epoch) == (3, 2)
    assert run.module.weight.item() == 2.0


def test_without_validation_the_last_weights_stay():
    run = _Scripted([])

    result = run_epochs(None, run.module, run.train_epoch, epochs=3, options=TrainOptions())

    assert (result.epochs_run, result.best_epoch, result.stopped_early) == (3, 3, False)
    assert run.module.weight.item() == 3.0
    assert [m["train_loss"] for m in result.history] == [1.0, 0.5, 1.0 / 3]


def test_dry_run_is_one_epoch_of_a_few_batches():
    ctx = prepare(TrainOptions(dry_run=True))
    batches = []

    def train_epoch(_epoch):
        batches.extend(ctx.batches(1000, 10))
        return 0.0

    result = run_epochs(
        None, nn.Linear(1, 1), train_epoch, epochs=50, options=TrainOptions(dry_run=True)
    )

    assert result.epochs_run == 1
    assert len(batches) == DRY_RUN_BATCHES


def test_batches_cover_every_index_once():
    ctx = prepare(TrainOptions(seed=3))

    chunks = list(ctx.batches(25, 10))

    assert [len(c) for c in chunks] == [10, 10, 5]
    assert sorted(torch.cat(chunks).tolist()) == list(range(25))


def test_thread_count_is_restored():
    before = torch.get_num_threads()

    with torch_threads(1):
        assert torch.get_num_threads() == 1

    assert torch.get_num_threads() == before


def test_cuda_request_falls_back_to_cpu_without_cuda(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)

    assert training.resolve_device("cuda").type == "cpu"


@pytest.mark.parametrize("dense", [True, False])
def test_pair_sampler_knows_the_observed_pairs(blocks, monkeypatch, dense):
    if not dense:
        monkeypatch.setattr(training, "DENSE_LOOKUP_CELLS", 0)
    sampler = PairSampler(blocks, prepare(TrainOptions()))
    matrix = blocks.matrix().toarray().astype(bool)
    users, items = np.meshgrid(np.arange(blocks.n_users), np.arange(blocks.n_items), indexing="ij")

    found = sampler.contains(torch.as_tensor(users), torch.as_tensor(items)).numpy()

    np.testing.assert_array_equal(found, matrix)


def test_negatives_avoid_the_users_items(blocks):
    sampler = PairSampler(blocks, prepare(TrainOptions(seed=0)))
    users = torch.arange(blocks.n_users).repeat(50)

    negatives = sampler.negatives(users, 4)

    assert negatives.shape == (len(users), 4)
    hits = sampler.contains(users[:, None].expand_as(negatives), negatives)
    # A user has 5 of 12 items: 42% of plain draws hit, (5/12)**4 ≈ 3% after 3 redraws.
    assert hits.float().mean() < 0.06


def test_fold_in_fits_rows_with_history_and_keeps_empty_rows():
    # given item vectors on two axes and users who like the items on the first axis
    items = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.0, 1.0]])
    history = sp.csr_matrix(np.array([[1, 1, 0, 0], [0, 0, 0, 0]], dtype=np.float32))

    def loss_fn(params, rows, positives, negatives):
        users = params[0][rows]
        margin = (users * (items[positives] - items[negatives])).sum(1)
        return torch.nn.functional.softplus(-margin).mean()

    # when
    start = torch.zeros(2, 2)
    (fitted,) = fold_in(loss_fn, [start], history, steps=30, lr=0.1)
    (again,) = fold_in(loss_fn, [start], history, steps=30, lr=0.1)

    # then
    assert fitted[0, 0] > fitted[0, 1]
    assert torch.equal(fitted[1], torch.zeros(2))
    assert torch.equal(fitted, again)
    assert torch.equal(start, torch.zeros(2, 2))
