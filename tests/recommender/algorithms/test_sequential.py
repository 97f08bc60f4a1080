"""The parts GRU4Rec and SASRec share: training windows, tie shuffling, softmax exclusions."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import torch

from recommender.algorithms import sequential
from recommender.algorithms.sequential import (
    IGNORE,
    TieShuffler,
    latest_tokens,
    training_windows,
)
from recommender.data import interactions_from_frame


def test_windows_make_every_item_but_the_first_a_target_exactly_once():
    sequences = [np.arange(10), np.array([3, 4]), np.array([7]), np.arange(20, 25)]

    windows = training_windows(sequences, max_len=4)

    targets = windows.targets[windows.targets != IGNORE].tolist()
    expected = list(range(1, 10)) + [4] + list(range(21, 25))
    assert Counter(targets) == Counter(expected)
    assert windows.lengths.max() == 4
    assert windows.users.tolist() == [0, 0, 0, 1, 3]  # one-item users give no window


def test_a_window_predicts_the_item_after_each_input():
    windows = training_windows([np.array([5, 6, 7])], max_len=10)

    assert windows.tokens.tolist() == [[6, 7]]  # item index + 1; 0 pads
    assert windows.targets.tolist() == [[6, 7]]
    assert windows.lengths.tolist() == [2]


def test_latest_tokens_keep_the_newest_items_right_padded():
    tokens, lengths = latest_tokens([np.array([1, 2, 3, 4]), np.array([], dtype=np.int64)], 3)

    assert tokens.tolist() == [[3, 4, 5], [0, 0, 0]]
    assert lengths.tolist() == [3, 0]


def tie_data():
    # user a: items 0,1,2 at the same second, then 3 a day later; user b: 4 then 5 a minute later
    frame = pd.DataFrame(
        {
            "user_id": ["a", "a", "a", "a", "b", "b"],
            "item_id": ["i0", "i1", "i2", "i3", "i4", "i5"],
            "timestamp": [100, 100, 100, 86_500, 0, 60],
        }
    )
    return interactions_from_frame(frame)


def test_tie_shuffler_reorders_only_simultaneous_items():
    shuffler = TieShuffler(tie_data(), tie_seconds=0)
    rng = np.random.default_rng(0)

    orders = [shuffler.sequences(rng) for _ in range(30)]

    assert {tuple(sorted(o[0][:3])) for o in orders} == {(0, 1, 2)}
    assert len({tuple(o[0][:3]) for o in orders}) > 1  # the tie is reordered
    assert all(o[0][3] == 3 and o[1].tolist() == [4, 5] for o in orders)


def test_tie_shuffler_chains_gaps_up_to_tie_seconds():
    shuffler = TieShuffler(tie_data(), tie_seconds=60)
    rng = np.random.default_rng(0)

    orders = {tuple(shuffler.sequences(rng)[1]) for _ in range(30)}

    assert orders == {(4, 5), (5, 4)}


def test_negative_tie_seconds_keep_the_recorded_order():
    shuffler = TieShuffler(tie_data(), tie_seconds=-1)

    sequences = shuffler.sequences(np.random.default_rng(0))

    assert [s.tolist() for s in sequences] == [[0, 1, 2, 3], [4, 5]]


@pytest.mark.parametrize(
    ("mode", "expected"),
    [
        # positions: after item 0 (target 1), after item 1 (target 2)
        ("past", [[True, False, False, False], [True, True, False, False]]),
        ("user", [[True, False, True, True], [True, True, False, True]]),
    ],
)
def test_softmax_exclusions_never_drop_the_target(mode, expected):
    data = interactions_from_frame(
        pd.DataFrame(
            {"user_id": ["u"] * 4, "item_id": ["i0", "i1", "i2", "i3"], "timestamp": range(4)}
        )
    )
    # a window over the user's first three items: inputs 0, 1 → targets 1, 2
    windows = training_windows([np.array([0, 1, 2])], max_len=10)
    batch = sequential._Batch.take(windows, torch.tensor([0]), torch.device("cpu"))

    user_items = sequential.UserItems(data.matrix(), torch.device("cpu"))

    excluded = sequential._excluded(batch, mode, user_items, n_items=4)

    assert excluded.tolist() == expected
    # the mask kept for the whole fit is not changed by leaving the targets in
    assert user_items.rows(torch.tensor([0])).tolist() == [[True] * 4]


@pytest.mark.parametrize("dense_cells", [0, 10**6])
def test_user_items_rows_match_the_matrix_dense_or_sparse(monkeypatch, dense_cells):
    monkeypatch.setattr(sequential, "DENSE_MASK_CELLS", dense_cells)
    matrix = sp.csr_matrix(np.array([[1, 0, 0], [0, 2, 1], [0, 0, 0]], dtype=np.float32))

    user_items = sequential.UserItems(matrix, torch.device("cpu"))

    assert (user_items.dense is not None) == bool(dense_cells)
    assert user_items.rows(torch.tensor([2, 1, 1])).tolist() == [
        [False, False, False],
        [False, True, True],
        [False, True, True],
    ]
