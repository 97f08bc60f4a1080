"""Paired tests over per-rater figures, and the compact form runs keep them in."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from recommender.evaluation.significance import (
    paired_test,
    per_user_columns,
    per_user_series,
)


def series(values, ids=None) -> pd.Series:
    ids = ids or [f"r{i}" for i in range(len(values))]
    return pd.Series(values, index=ids, dtype="float64")


def test_identical_runs_show_no_difference():
    a = series([0.1, 0.5, 0.0, 1.0])

    test = paired_test(a, a.copy())

    assert (test.n, test.mean_difference, test.t_pvalue, test.wilcoxon_pvalue) == (4, 0, 1, 1)
    assert not test.significant


def test_a_consistently_better_run_is_significant():
    rng = np.random.default_rng(0)
    a = series(rng.uniform(0, 0.5, size=40))
    b = a + 0.1 + rng.normal(0, 0.01, size=40)

    test = paired_test(a, b)

    assert test.significant
    assert test.mean_difference == pytest.approx(0.1, abs=0.01)
    assert test.wilcoxon_pvalue < 1e-6
    assert test.t_pvalue < 1e-6


def test_noise_alone_is_not_significant():
    a = series([0.2, 0.4, 0.1, 0.3, 0.5, 0.0])
    b = series([0.3, 0.3, 0.2, 0.2, 0.5, 0.1])

    test = paired_test(a, b)

    assert not test.significant
    assert test.wilcoxon_pvalue > 0.05


def test_only_raters_in_both_runs_are_paired():
    a = series([0.0, 1.0, 0.5], ids=["x", "y", "z"])
    b = series([1.0, 0.5, 0.0], ids=["y", "z", "w"])

    test = paired_test(a, b)

    assert test.n == 2
    assert (test.mean_a, test.mean_b) == (0.75, 0.75)


def test_fewer_than_two_shared_raters_cannot_be_tested():
    assert paired_test(series([0.1], ids=["x"]), series([0.2], ids=["x"])) is None


def test_per_user_columns_round_trip_as_json_columns():
    frame = pd.DataFrame(
        {
            "user_id": [7, 9],
            "n_train": [3, 30],
            "n_test": [1, 2],
            "cold": [True, False],
            "ndcg_at_10": [0.123456789, np.nan],
            "recall_at_10": [1.0, 0.5],
        }
    )

    columns = per_user_columns(frame)

    assert columns == {
        "user_id": ["7", "9"],
        "cold": [True, False],
        "ndcg_at_10": [0.123457, None],
        "recall_at_10": [1.0, 0.5],
    }
    restored = per_user_series(columns, "recall_at_10")
    assert restored.to_dict() == {"7": 1.0, "9": 0.5}
    assert per_user_series(columns, "map") is None
    assert per_user_series({}, "ndcg_at_10") is None
