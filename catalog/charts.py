"""Pure Plotly builders for the dataset overview; tests check traces and titles, not HTML."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go


def _layout(fig: go.Figure, title: str, x: str, y: str, log_y: bool = False) -> go.Figure:
    fig.update_layout(
        title=title,
        xaxis_title=x,
        yaxis_title=y,
        template="plotly_white",
        margin={"l": 60, "r": 20, "t": 50, "b": 50},
        height=340,
    )
    if log_y:
        fig.update_yaxes(type="log")
    return fig


def rating_histogram(value_counts: pd.DataFrame) -> go.Figure:
    """Bar chart of how often each rating value occurs."""
    fig = go.Figure(go.Bar(x=value_counts["value"], y=value_counts["count"], name="ratings"))
    return _layout(fig, "Rating values", "rating value", "number of ratings")


def item_long_tail(item_counts: pd.Series) -> go.Figure:
    """Interactions per item by popularity rank (log scale): the long tail."""
    ranks = np.arange(1, len(item_counts) + 1)
    fig = go.Figure(go.Scatter(x=ranks, y=item_counts.to_numpy(), mode="lines", name="items"))
    return _layout(
        fig,
        "Item popularity (long tail)",
        "item rank by popularity",
        "interactions per item",
        log_y=True,
    )


def rater_activity(rater_counts: pd.Series) -> go.Figure:
    """Histogram of interactions per rater."""
    fig = go.Figure(go.Histogram(x=rater_counts.to_numpy(), nbinsx=50, name="raters"))
    return _layout(fig, "Rater activity", "interactions per rater", "number of raters")


def interactions_over_time(daily: pd.DataFrame) -> go.Figure:
    """Interactions per day, one stacked series per source (import, site, API)."""
    fig = go.Figure()
    for source, rows in daily.groupby("source", sort=True):
        fig.add_trace(go.Bar(x=rows["day"], y=rows["count"], name=str(source)))
    fig.update_layout(barmode="stack")
    # Whole days only: with a short span plotly would otherwise tick hours ("23:59:59.9995").
    days = daily["day"].nunique() if len(daily) else 0
    fig.update_xaxes(tickformat="%Y-%m-%d", dtick=86_400_000 if days < 8 else None)
    return _layout(fig, "Interactions over time", "day (UTC)", "interactions per day")
