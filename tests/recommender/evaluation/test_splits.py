"""Splits: exact agreement with Recommenders' stratified split, folds, temporal leave-last-out."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from recommender.evaluation.splits import (
    LeaveLastOutSplit,
    TrainTestSplit,
    kfold_split,
    leave_last_out,
    stratified_split,
)


def ratings(sizes: dict[str, int], seed: int = 0) -> pd.DataFrame:
    """A shuffled ratings frame with ``sizes[user]`` rows per user, in "file order"."""
    rng = np.random.default_rng(seed)
    users = np.repeat(list(sizes), list(sizes.values()))
    rng.shuffle(users)
    return pd.DataFrame(
        {
            "user_id": users,
            "item_id": [f"i{n}" for n in rng.integers(0, 40, len(users))],
            "value": rng.integers(1, 6, len(users)).astype(float),
            "timestamp": rng.integers(0, 1_000, len(users)),
        }
    )


def recommenders_reference(frame: pd.DataFrame, ratio: float, seed: int, column: str) -> set:
    """Recommenders' ``_do_stratification`` written out with pandas, as its source does it."""
    data = frame.copy()
    np.random.seed(seed)
    data["random"] = np.random.rand(len(data))
    data = data.sort_values([column, "random"])
    groups = data.groupby(column)
    data["count"] = groups[column].transform("count")
    data["rank"] = groups.cumcount() + 1
    return set(data.index[data["rank"] <= round(ratio * data["count"])])


@pytest.mark.parametrize("filter_by", ["user", "item"])
@pytest.mark.parametrize("seed", [42, 7])
def test_stratified_split_matches_recommenders_reference(filter_by, seed):
    # given
    frame = ratings({f"u{n}": n % 9 + 1 for n in range(30)})
    column = "user_id" if filter_by == "user" else "item_id"
    # when
    split = stratified_split(frame, ratio=0.75, seed=seed, filter_by=filter_by)
    # then
    assert set(split.train.index) == recommenders_reference(frame, 0.75, seed, column)
    assert set(split.test.index) == set(frame.index) - set(split.train.index)


def test_stratified_split_rounds_half_to_even():
    # 0.75 * 2 = 1.5 -> 2, 0.75 * 6 = 4.5 -> 4, 0.75 * 10 = 7.5 -> 8, 0.75 * 1 = 0.75 -> 1
    frame = ratings({"two": 2, "six": 6, "ten": 10, "one": 1})

    split = stratified_split(frame)

    assert split.train["user_id"].value_counts().to_dict() == {
        "two": 2,
        "six": 4,
        "ten": 8,
        "one": 1,
    }
    assert split.test["user_id"].value_counts().to_dict() == {"six": 2, "ten": 2}


def test_stratified_split_keeps_file_order_index_and_columns():
    frame = ratings({"a": 8, "b": 5})

    train, test = stratified_split(frame)

    assert list(train.columns) == list(frame.columns)
    assert train.index.is_monotonic_increasing
    assert test.index.is_monotonic_increasing
    pd.testing.assert_frame_equal(frame.loc[train.index], train)


def test_stratified_split_is_seeded():
    frame = ratings({f"u{n}": 12 for n in range(5)})

    first = stratified_split(frame, seed=1)
    again = stratified_split(frame, seed=1)
    other = stratified_split(frame, seed=2)

    assert list(first.train.index) == list(again.train.index)
    assert list(first.train.index) != list(other.train.index)


@pytest.mark.parametrize(("ratio", "filter_by"), [(0.0, "user"), (1.0, "user"), (0.5, "rater")])
def test_stratified_split_rejects_bad_arguments(ratio, filter_by):
    with pytest.raises(ValueError, match="ratio|filter_by"):
        stratified_split(ratings({"a": 3}), ratio=ratio, filter_by=filter_by)


def test_kfold_split_puts_every_row_in_exactly_one_test_fold():
    frame = ratings({f"u{n}": 7 for n in range(6)})  # 42 rows

    folds = kfold_split(frame, k=5, seed=3)

    assert len(folds) == 5
    assert all(isinstance(fold, TrainTestSplit) for fold in folds)
    test_indices = np.concatenate([fold.test.index.to_numpy() for fold in folds])
    assert sorted(test_indices) == list(frame.index)
    assert sorted(len(fold.test) for fold in folds) == [8, 8, 8, 9, 9]
    for fold in folds:
        assert set(fold.train.index).isdisjoint(fold.test.index)
        assert len(fold.train) + len(fold.test) == len(frame)


def test_kfold_split_needs_two_folds():
    with pytest.raises(ValueError, match="k must be"):
        kfold_split(ratings({"a": 3}), k=1)


def test_leave_last_out_orders_by_time_and_breaks_ties_by_file_order():
    # given: user a's last two rows share a timestamp; file order decides which is last
    frame = pd.DataFrame(
        {
            "user_id": ["a", "a", "b", "a", "a", "c", "b", "a"],
            "item_id": ["a1", "a2", "b1", "a3", "a4", "c1", "b2", "a5"],
            "value": [1.0] * 8,
            "timestamp": [50, 10, 5, 30, 50, 1, 9, 20],
        }
    )
    # when
    split = leave_last_out(frame)
    # then: a in time order is a2(10) a5(20) a3(30) a1(50) a4(50, later in the file)
    assert isinstance(split, LeaveLastOutSplit)
    assert split.test.set_index("user_id")["item_id"].to_dict() == {
        "a": "a4",
        "b": "b2",
        "c": "c1",
    }
    assert split.validation.set_index("user_id")["item_id"].to_dict() == {"a": "a1", "b": "b1"}
    assert sorted(split.train["item_id"]) == ["a2", "a3", "a5"]
    assert split.train.index.is_monotonic_increasing
