"""Pure Plotly builders for training runs; tests check traces and titles, not HTML."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots


def training_curves(frame: pd.DataFrame) -> go.Figure:
    """Training loss (left axis) and validation metrics (right axis) per epoch."""
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    for name in frame.columns:
        if name.endswith("_seconds"):  # timings, not curves (closed-form fits report fit_seconds)
            continue
        is_validation = name.startswith("val_")
        fig.add_trace(
            go.Scatter(x=frame.index, y=frame[name], mode="lines+markers", name=name),
            secondary_y=is_validation,
        )
    fig.update_layout(
        title="Training curves",
        template="plotly_white",
        height=360,
        margin={"l": 60, "r": 60, "t": 50, "b": 50},
        legend={"orientation": "h", "y": -0.25},
    )
    # Whole epochs only: about ten ticks whatever the number of epochs.
    epochs = int(frame.index.max()) if len(frame.index) else 1
    fig.update_xaxes(title_text="epoch", tick0=1, dtick=max(1, -(-epochs // 10)))
    fig.update_yaxes(title_text="training loss", secondary_y=False)
    fig.update_yaxes(title_text="validation metric (0–1)", secondary_y=True)
    return fig


def _style(fig: go.Figure, title: str, x: str, y: str, height: int = 360) -> go.Figure:
    fig.update_layout(
        title=title,
        xaxis_title=x,
        yaxis_title=y,
        template="plotly_white",
        height=height,
        margin={"l": 60, "r": 20, "t": 80, "b": 60},
        # Above the plot, under the title: clear of rotated axis labels and the axis title.
        legend={"orientation": "h", "y": 1.0, "yanchor": "bottom", "x": 0, "xanchor": "left"},
    )
    return fig


def run_comparison(
    frame: pd.DataFrame,
    title: str = "Ranking quality by run (top-10 lists)",
    y_title: str = "value (0–1, higher is better)",
    x_title: str = "metric",
) -> go.Figure:
    """Grouped bars: one group per metric (rows of ``frame``), one bar per run (columns)."""
    fig = go.Figure()
    for label in frame.columns:
        values = frame[label]
        fig.add_trace(
            go.Bar(
                x=list(frame.index),
                y=values.tolist(),
                name=str(label),
                text=[f"{v:.3f}" if pd.notna(v) else "" for v in values],
                textposition="outside",
                cliponaxis=False,
            )
        )
    fig.update_layout(barmode="group")
    return _style(fig, title, x_title, y_title)


def metric_label(name: str) -> str:
    """``ndcg_at_10`` → ``NDCG@10``, ``rmse`` → ``RMSE``, ``novelty_at_10`` → ``novelty@10``."""
    base, _, k = name.partition("_at_")
    short = {"ndcg": "NDCG", "mrr": "MRR", "map": "MAP", "rmse": "RMSE", "mae": "MAE", "f1": "F1"}
    label = short.get(base, base.replace("_", " "))
    return f"{label}@{k}" if k else label


def paired_differences(
    differences: dict[str, pd.Series], baseline: str, metric: str = "ndcg_at_10"
) -> go.Figure:
    """Histogram per run of each test rater's ``metric`` minus the baseline's."""
    fig = go.Figure()
    for label, values in differences.items():
        fig.add_trace(go.Histogram(x=values.to_numpy(), name=label, opacity=0.7, nbinsx=30))
    fig.update_layout(barmode="overlay")
    name = metric_label(metric)
    unit = " (rating points)" if metric in ("rmse", "mae") else ""
    return _style(
        fig,
        f"Per-rater {name} difference<br>against {baseline}",  # two lines: fits a phone
        f"{name}: run minus baseline, per rater{unit}",
        "number of raters",
    )


def item_ratings(
    value_counts: pd.DataFrame, title: str, scale: tuple[float, float] | None = None
) -> go.Figure:
    """Bar chart of how many times each rating value was given to one item.

    ``scale`` (lowest, highest rating) fixes the x axis to the whole rating scale, so a few
    values are not stretched across the chart.
    """
    fig = go.Figure(
        go.Bar(x=value_counts["value"], y=value_counts["count"], name="ratings", width=0.4)
    )
    fig = _style(fig, title, "rating value (stars)", "number of ratings", height=320)
    if scale is not None:
        low, high = scale
        step = 0.5 if (low % 1 or high % 1) else 1.0
        fig.update_xaxes(range=[low - step, high + step], dtick=step)
    return fig


def search_trials(frame: pd.DataFrame, metric: str) -> go.Figure:
    """Each trial's score (points) and the best so far (line), by trial number."""
    fig = go.Figure()
    fig.add_trace(
        go.Scatter(
            x=frame["trial"],
            y=frame["value"],
            mode="markers",
            name="trial",
            text=frame["config"],
            hovertemplate="%{text}<br>%{y:.4f}",
        )
    )
    fig.add_trace(
        go.Scatter(
            x=frame["trial"],
            y=frame["value"].cummax(),
            mode="lines",
            name="best so far",
            line={"shape": "hv"},
        )
    )
    fig.update_layout(
        title=f"Search trials: {metric} on the inner validation split",
        template="plotly_white",
        height=340,
        margin={"l": 60, "r": 20, "t": 50, "b": 50},
    )
    fig.update_xaxes(title_text="trial")
    fig.update_yaxes(title_text=metric)
    return fig
