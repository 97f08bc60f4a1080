"""Dataset charts: titles, axes and ticks a person can read."""

from __future__ import annotations

import pandas as pd

from catalog import charts


def daily(days: list[str]) -> pd.DataFrame:
    return pd.DataFrame(
        {"day": pd.to_datetime(days), "source": "import", "count": range(1, len(days) + 1)}
    )


def test_a_short_span_ticks_whole_days_not_hours():
    fig = charts.interactions_over_time(daily(["2026-11-30", "2026-12-01"]))

    assert fig.layout.xaxis.tickformat == "%Y-%m-%d"
    assert fig.layout.xaxis.dtick == 86_400_000
    assert fig.layout.xaxis.title.text == "day (UTC)"
    assert fig.layout.yaxis.title.text == "interactions per day"


def test_a_long_span_leaves_the_tick_spacing_to_plotly():
    fig = charts.interactions_over_time(daily([f"2026-11-{d:02d}" for d in range(1, 21)]))

    assert fig.layout.xaxis.tickformat == "%Y-%m-%d"
    assert fig.layout.xaxis.dtick is None
