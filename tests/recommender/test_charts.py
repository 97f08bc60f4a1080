"""Plotly builders: traces, titles and axis labels (no HTML)."""

from __future__ import annotations

import pandas as pd

from recommender import charts


def test_training_curves_put_loss_left_and_validation_right_and_skip_timings():
    frame = pd.DataFrame(
        {"train_loss": [0.9, 0.5], "val_ndcg_at_10": [0.1, 0.2], "epoch_seconds": [1.0, 1.1]},
        index=pd.Index([1, 2], name="epoch"),
    )

    fig = charts.training_curves(frame)

    assert [trace.name for trace in fig.data] == ["train_loss", "val_ndcg_at_10"]
    assert [trace.yaxis for trace in fig.data] == ["y", "y2"]
    assert fig.layout.title.text == "Training curves"
    assert fig.layout.xaxis.title.text == "epoch"
    assert fig.layout.yaxis.title.text == "training loss"


def test_training_curves_of_a_run_without_epochs_are_an_empty_titled_chart():
    fig = charts.training_curves(pd.DataFrame(index=pd.Index([], name="epoch")))

    assert len(fig.data) == 0
    assert fig.layout.title.text == "Training curves"


def test_run_comparison_groups_one_bar_per_run_by_metric():
    frame = pd.DataFrame(
        {"run 1 · popularity": [0.2, 0.3], "run 2 · itemknn": [0.5, 0.6]},
        index=["ndcg_at_10", "recall_at_10"],
    )

    fig = charts.run_comparison(frame)

    assert [trace.name for trace in fig.data] == ["run 1 · popularity", "run 2 · itemknn"]
    assert list(fig.data[1].x) == ["ndcg_at_10", "recall_at_10"]
    assert list(fig.data[1].y) == [0.5, 0.6]
    assert list(fig.data[0].text) == ["0.200", "0.300"]
    assert fig.layout.barmode == "group"
    assert fig.layout.title.text == "Ranking quality by run (top-10 lists)"
    assert fig.layout.xaxis.title.text == "metric"
    assert fig.layout.yaxis.title.text == "value (0–1, higher is better)"


def test_run_comparison_takes_other_titles_for_error_metrics():
    frame = pd.DataFrame({"run 3 · svd": [0.9]}, index=["rmse"])

    fig = charts.run_comparison(frame, title="Error", y_title="rating points (lower is better)")

    assert fig.layout.title.text == "Error"
    assert fig.layout.yaxis.title.text == "rating points (lower is better)"


def test_paired_differences_is_one_histogram_per_compared_run():
    fig = charts.paired_differences({"run 2 · itemknn": pd.Series([0.1, -0.2, 0.0])}, "run 1")

    assert [trace.type for trace in fig.data] == ["histogram"]
    assert list(fig.data[0].x) == [0.1, -0.2, 0.0]
    assert fig.layout.title.text == "Per-rater NDCG@10 difference<br>against run 1"
    assert fig.layout.yaxis.title.text == "number of raters"


def test_item_ratings_is_a_bar_per_rating_value():
    counts = pd.DataFrame({"value": [1.0, 4.0, 5.0], "count": [2, 5, 9]})

    fig = charts.item_ratings(counts, "Ratings of Alien")

    assert list(fig.data[0].x) == [1.0, 4.0, 5.0]
    assert list(fig.data[0].y) == [2, 5, 9]
    assert fig.layout.title.text == "Ratings of Alien"
    assert fig.layout.xaxis.title.text == "rating value (stars)"
    assert fig.layout.yaxis.title.text == "number of ratings"
