"""Paired tests over per-rater figures, and the compact form runs keep them in."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from recommender.evaluation import significance
from recommender.evaluation.significance import (
    STORED_COLUMNS,
    paired_test,
    per_user_columns,
    per_user_errors,
    per_user_series,
    stored_metrics,
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


def test_p_values_match_the_hand_computed_ones():
    # Differences 1, 2, 3: mean 2, sd 1, t = 2 / (1 / sqrt 3) = 2 sqrt 3 on 2 degrees of
    # freedom, where the two-sided p is 1 - |t| / sqrt(2 + t^2) = 1 - sqrt(12 / 14).
    # Wilcoxon: all three differences have the same sign, W = 0, exact p = 2 / 2^3 = 0.25.
    a = series([1.0, 2.0, 3.0])
    b = series([2.0, 4.0, 6.0])

    test = paired_test(a, b)

    assert (test.n, test.mean_a, test.mean_b, test.mean_difference) == (3, 2.0, 4.0, 2.0)
    assert test.t_pvalue == pytest.approx(1 - np.sqrt(12 / 14))  # 0.07418
    assert test.wilcoxon_pvalue == pytest.approx(0.25)
    assert not test.significant


def test_six_raters_all_one_way_is_the_smallest_significant_wilcoxon():
    # Exact two-sided p when every difference has one sign: 2 / 2^n; 5 raters give 0.0625,
    # 6 give 0.03125 < 0.05. Errors (RMSE) that all drop are tested the same way.
    before = [1.0, 1.2, 0.8, 1.1, 0.9, 1.3]
    drops = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6]
    after = [x - d for x, d in zip(before, drops, strict=True)]

    five = paired_test(series(before[:5]), series(after[:5]))
    six = paired_test(series(before), series(after))

    assert five.wilcoxon_pvalue == pytest.approx(0.0625)
    assert not five.significant
    assert six.wilcoxon_pvalue == pytest.approx(0.03125)
    assert six.significant
    assert six.mean_difference == pytest.approx(-0.35)


def test_two_raters_t_test_is_the_cauchy_tail():
    # Differences 1 and 3: mean 2, sd sqrt 2, t = 2 on 1 degree of freedom (Cauchy):
    # p = 1 - (2 / pi) * arctan(2).
    test = paired_test(series([0.0, 0.0]), series([1.0, 3.0]))

    assert test.t_pvalue == pytest.approx(1 - 2 / np.pi * np.arctan(2.0))  # 0.2952


def test_per_user_errors_pool_each_raters_ratings_over_folds():
    errors = pd.DataFrame(
        {"user_id": ["u", "v", "u", "v", "v"], "error": [1.0, 0.5, -3.0, -0.5, 0.0]}
    )

    frame = per_user_errors(errors)

    assert frame["user_id"].tolist() == ["u", "v"]
    assert frame["n_test"].tolist() == [2, 3]
    assert frame["rmse"].tolist() == pytest.approx([np.sqrt(5.0), np.sqrt(0.5 / 3)])
    assert frame["mae"].tolist() == pytest.approx([2.0, 1 / 3])


def test_rating_errors_are_kept_and_listed_as_stored_metrics():
    frame = per_user_errors(pd.DataFrame({"user_id": [1, 2], "error": [0.5, -1.0]}))

    columns = per_user_columns(frame)

    assert columns == {"user_id": ["1", "2"], "rmse": [0.5, 1.0], "mae": [0.5, 1.0]}
    assert stored_metrics(columns) == ["rmse", "mae"]
    assert stored_metrics({}) == []


def test_every_ranking_figure_per_rater_is_kept():
    frame = pd.DataFrame({"user_id": [1], "n_train": [3], "n_test": [1], "cold": [True]})
    for column in STORED_COLUMNS:
        frame[column] = 0.5

    assert stored_metrics(per_user_columns(frame)) == list(STORED_COLUMNS)


def test_holm_adjusts_a_hand_worked_family_of_four():
    # Sorted: 0.005 x4 = 0.02, 0.01 x3 = 0.03, 0.03 x2 = 0.06, 0.04 x1 = 0.04 -> raised to 0.06.
    adjusted = significance.holm_adjusted([0.01, 0.04, 0.03, 0.005])

    assert adjusted == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert significance.holm_adjusted([0.5, 0.9]) == pytest.approx([1.0, 1.0])  # capped at 1


def test_a_difference_significant_alone_may_not_be_among_many_metrics():
    def test(p: float) -> significance.PairedTest:
        return significance.PairedTest(
            n=100,
            mean_a=0.4,
            mean_b=0.41,
            mean_difference=0.01,
            t_pvalue=p,
            wilcoxon_pvalue=p,
            significant=p < 0.05,
        )

    tests = {"ndcg_at_10": test(0.001), "recall_at_10": test(0.03), "map": test(0.2), "x": None}
    corrected = significance.holm_corrected(tests)

    assert tests["recall_at_10"].significant  # alone it would pass
    assert corrected["ndcg_at_10"].significant
    assert corrected["ndcg_at_10"].adjusted_pvalue == pytest.approx(0.003)
    assert not corrected["recall_at_10"].significant
    assert corrected["recall_at_10"].adjusted_pvalue == pytest.approx(0.06)
    assert corrected["x"] is None
