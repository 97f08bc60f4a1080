"""Ranking protocols keep one row per test rater, for paired comparisons between runs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from recommender.pipeline import run_protocol


def frame() -> pd.DataFrame:
    rows = [(f"u{u}", f"i{(u + j) % 12}", 4.0, u * 100 + j) for u in range(16) for j in range(8)]
    data = pd.DataFrame(rows, columns=["user_id", "item_id", "value", "timestamp"])
    data["event_type"] = "rating"
    return data


@pytest.mark.parametrize("protocol", ["p1", "p3"])
def test_ranking_protocols_fill_per_user_figures_that_average_to_the_metrics(protocol):
    result = run_protocol(frame(), "itemknn", {"neighbours": 5}, protocol=protocol)

    per_user = result.per_user
    assert len(per_user) == result.metrics["users"] == 16
    assert {"user_id", "cold", "ndcg_at_10", "recall_at_10"} <= set(per_user.columns)
    assert per_user["ndcg_at_10"].mean() == pytest.approx(result.metrics["ndcg_at_10"])
    assert np.isfinite(per_user["recall_at_10"]).all()
