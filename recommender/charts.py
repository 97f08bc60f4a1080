"""Pure Plotly builders for training runs; tests check traces and titles, not HTML."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots


def training_curves(frame: pd.DataFrame) -> go.Figure:
    """Training loss (left axis) and validation metrics (right axis) per epoch."""
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    for name in frame.columns:
        if name == "epoch_seconds":
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
    fig.update_xaxes(title_text="epoch")
    fig.update_yaxes(title_text="training loss", secondary_y=False)
    fig.update_yaxes(title_text="validation metric", secondary_y=True)
    return fig
