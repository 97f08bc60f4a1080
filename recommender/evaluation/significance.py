"""Is one model better than another on the same raters? Paired tests over per-rater metrics.

Django-free. Two runs evaluated on the same split give each test rater one value per metric
(``protocols.per_user_ranking``). Pairing the values by rater removes the between-rater
variance, which is far larger than the difference between models: a paired test on a few
hundred raters can separate models whose averages differ in the third decimal.

Both the paired t-test (difference of means) and the Wilcoxon signed-rank test (no normality
assumption; per-rater NDCG is bounded and often zero, so far from normal) are reported; a
difference is called significant when the Wilcoxon p-value is below ``alpha``. When several
metrics are tested at once, :func:`holm_corrected` adjusts their Wilcoxon p-values (Holm's
step-down method) so that the chance of *any* false "significant" among them stays below
``alpha``; the decision then rests on the adjusted p-value.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

#: Per-rater columns kept with a run (JSON, column-wise) for later comparisons: every per-rater
#: figure of the ranking protocols (``protocols.per_user_ranking`` at k=10, without AUC) and
#: the rating errors of P2 (:func:`per_user_errors`). A run keeps those it has.
STORED_COLUMNS = (
    "ndcg_at_10",
    "recall_at_10",
    "precision_at_10",
    "f1_at_10",
    "hit_rate_at_10",
    "mrr_at_10",
    "map_at_10",
    "map",
    "novelty_at_10",
    "popularity_bias_at_10",
    "rmse",
    "mae",
)


@dataclass(frozen=True)
class PairedTest:
    """Outcome of comparing ``b`` with ``a`` over the raters both were evaluated on.

    Attributes:
        n: raters in both.
        mean_a, mean_b: the metric's mean over those raters.
        mean_difference: mean of ``b - a``.
        t_pvalue: two-sided paired t-test p-value.
        wilcoxon_pvalue: two-sided Wilcoxon signed-rank p-value.
        significant: ``wilcoxon_pvalue < alpha``, or ``adjusted_pvalue < alpha`` once adjusted.
        adjusted_pvalue: the Wilcoxon p-value adjusted for the other metrics tested with it
            (:func:`holm_corrected`); None until then.
    """

    n: int
    mean_a: float
    mean_b: float
    mean_difference: float
    t_pvalue: float
    wilcoxon_pvalue: float
    significant: bool
    adjusted_pvalue: float | None = None


def paired_test(a: pd.Series, b: pd.Series, alpha: float = 0.05) -> PairedTest | None:
    """Compare two per-rater series (indexed by rater id) on the raters they share.

    Returns None when fewer than two raters are shared.
    """
    joined = pd.concat({"a": a, "b": b}, axis=1, join="inner").dropna()
    if len(joined) < 2:
        return None
    x = joined["a"].to_numpy(dtype=np.float64)
    y = joined["b"].to_numpy(dtype=np.float64)
    diff = y - x
    if np.allclose(diff, 0.0):
        t_p = w_p = 1.0  # identical lists: no evidence of a difference (scipy would say NaN)
    else:
        t_p = float(stats.ttest_rel(y, x).pvalue)
        t_p = 1.0 if np.isnan(t_p) else t_p
        w_p = float(stats.wilcoxon(y, x, zero_method="wilcox").pvalue)
    return PairedTest(
        n=len(joined),
        mean_a=float(x.mean()),
        mean_b=float(y.mean()),
        mean_difference=float(diff.mean()),
        t_pvalue=t_p,
        wilcoxon_pvalue=w_p,
        significant=w_p < alpha,
    )


def holm_adjusted(pvalues: list[float]) -> list[float]:
    """Holm's step-down adjusted p-values, in the input order.

    The i-th smallest of m p-values is multiplied by (m - i + 1); each adjusted value is at
    least the one before it in that order, and at most 1.
    """
    order = np.argsort(pvalues, kind="stable")
    m = len(pvalues)
    adjusted = [0.0] * m
    running = 0.0
    for rank, index in enumerate(order):
        running = max(running, min(1.0, (m - rank) * float(pvalues[index])))
        adjusted[index] = running
    return adjusted


def holm_corrected(
    tests: dict[str, PairedTest | None], alpha: float = 0.05
) -> dict[str, PairedTest | None]:
    """The same tests with Wilcoxon p-values adjusted for testing them all at once."""
    present = {name: test for name, test in tests.items() if test is not None}
    adjusted = holm_adjusted([test.wilcoxon_pvalue for test in present.values()])
    corrected = {
        name: replace(test, adjusted_pvalue=p, significant=p < alpha)
        for (name, test), p in zip(present.items(), adjusted, strict=True)
    }
    return {**tests, **corrected}


def per_user_columns(frame: pd.DataFrame, columns: tuple[str, ...] = STORED_COLUMNS) -> dict:
    """A per-user frame as compact JSON columns: ``user_id``, ``cold`` and the metric columns."""
    out: dict[str, Any] = {"user_id": frame["user_id"].astype(str).tolist()}
    if "cold" in frame:
        out["cold"] = frame["cold"].astype(bool).tolist()
    for column in columns:
        if column in frame:
            values = frame[column].to_numpy(dtype=np.float64)
            out[column] = [None if np.isnan(v) else round(float(v), 6) for v in values]
    return out


def per_user_series(columns: dict[str, Any], metric: str) -> pd.Series | None:
    """One stored metric as a Series indexed by user id, or None if it was not stored."""
    if not columns or metric not in columns:
        return None
    return pd.Series(
        columns[metric], index=pd.Index(columns["user_id"], name="user_id"), dtype="float64"
    )


def stored_metrics(columns: dict[str, Any]) -> list[str]:
    """The per-rater metrics kept in ``columns``, in :data:`STORED_COLUMNS` order."""
    return [metric for metric in STORED_COLUMNS if metric in (columns or {})]


def per_user_errors(errors: pd.DataFrame) -> pd.DataFrame:
    """Each rater's RMSE and MAE over their held-out ratings (pooled over every fold).

    Args:
        errors: one row per predicted test rating: ``user_id`` and ``error`` (prediction minus
            the true rating).

    Returns:
        ``user_id``, ``n_test``, ``rmse``, ``mae``: one row per rater, sorted by ``user_id``.
    """
    grouped = errors.assign(squared=errors["error"] ** 2, absolute=errors["error"].abs()).groupby(
        "user_id", sort=True
    )
    return pd.DataFrame(
        {
            "n_test": grouped.size(),
            "rmse": np.sqrt(grouped["squared"].mean()),
            "mae": grouped["absolute"].mean(),
        }
    ).reset_index()
