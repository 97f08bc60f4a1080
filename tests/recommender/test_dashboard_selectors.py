"""Reads behind the operator dashboard: overview, feedback rate, comparisons, look-ups."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from catalog.models import Interaction, Item, Rater
from recommender import selectors, services
from recommender.evaluation import significance
from recommender.models import PerUserMetrics, RecommendationImpression, TrainingRun
from tests.recommender.helpers import launch

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fast_passwords(settings):
    """Cheap password hashing for the people fixtures (the default costs ~1 s per user)."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def rate(rater, item, when, source="site", event="rating", value=4.0):
    return Interaction.objects.update_or_create(
        rater=rater,
        item=item,
        event_type=event,
        defaults={"value": value, "occurred_at": when, "source": source},
    )[0]


SERVED_AT = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
NOW = SERVED_AT + timedelta(days=1)


def serve(rater, items, when, surface="page"):
    return RecommendationImpression.objects.create(
        rater=rater, item_ids=[i.pk for i in items], surface=surface, served_at=when
    )


@pytest.fixture
def served():
    """Ann and Bob were shown lists on the site and through the API; Carl only long ago.

    Served (rater, item) pairs in the 30-day window: ann x0 x1 x2 x3, bob x0 x3 (6 pairs; ann's
    x0 was shown twice and counts once, from its first showing).
    """
    x = [Item.objects.create(external_id=f"x{n}", title=f"X {n}") for n in range(4)]
    ann, bob, carl = (Rater.objects.create(external_id=name) for name in ("ann", "bob", "carl"))
    serve(ann, x[:3], SERVED_AT)
    serve(bob, [x[0], x[3]], SERVED_AT + timedelta(hours=1), surface="api")
    serve(ann, [x[0], x[3]], SERVED_AT + timedelta(hours=2))
    serve(carl, [x[1]], SERVED_AT - timedelta(days=40))  # outside the window
    return (ann, bob, carl), x


def test_feedback_rate_is_the_share_of_served_pairs_acted_on_after_serving(served):
    (ann, bob, carl), x = served
    rate(ann, x[0], SERVED_AT + timedelta(minutes=5))  # hit (site rating)
    rate(ann, x[1], SERVED_AT + timedelta(minutes=6), source="import")  # imported: no
    rate(ann, x[3], SERVED_AT + timedelta(minutes=30), event="click")  # before x3 was shown: no
    rate(ann, x[2], SERVED_AT + timedelta(hours=3), event="view")  # a view is no response
    rate(bob, x[0], SERVED_AT - timedelta(minutes=1))  # before it was shown: no
    rate(bob, x[3], SERVED_AT + timedelta(hours=2), source="api", event="like")  # hit
    rate(carl, x[1], SERVED_AT)  # carl's list is older than the window

    feedback = selectors.feedback_rate(now=NOW)

    assert (feedback.served, feedback.responded) == (6, 2)
    assert (feedback.raters, feedback.lists, feedback.window_days) == (2, 3, 30)
    assert feedback.rate == pytest.approx(1 / 3)
    assert feedback.percent == pytest.approx(100 / 3)


def test_a_longer_window_takes_in_older_lists(served):
    (_, _, carl), x = served
    rate(carl, x[1], SERVED_AT)

    feedback = selectors.feedback_rate(window_days=60, now=NOW)

    assert (feedback.served, feedback.responded, feedback.raters) == (7, 1, 3)


def test_no_served_lists_means_no_rate():
    feedback = selectors.feedback_rate(now=NOW)

    assert (feedback.served, feedback.responded, feedback.rate) == (0, 0, None)


def test_overview_page_shows_the_rate_and_its_denominator(operator_client):
    x = [Item.objects.create(external_id=f"x{n}", title=f"X {n}") for n in range(3)]
    dan = Rater.objects.create(external_id="dan")
    shown_at = timezone.now() - timedelta(hours=1)
    serve(dan, x, shown_at)
    rate(dan, x[2], shown_at + timedelta(minutes=1))

    html = operator_client.get(reverse("recommender:overview")).content.decode()

    assert '<span class="kpi" id="feedback-rate">33.3%</span>' in html
    assert "(1 of 3 served, last 30 days)" in html


def test_overview_counts_data_and_names_the_serving_run(two_taste_catalog, operator):
    run = launch("popularity")
    services.training_run_activate(run=run, activated_by=operator)

    data = selectors.dashboard_overview()

    assert (data.items, data.raters, data.interactions) == (16, 24, 168)
    assert data.active_run == run
    assert data.activation.activated_by == operator
    assert list(data.headline)[:2] == ["ndcg_at_10", "recall_at_10"]
    assert data.daily["count"].sum() == 168
    assert set(data.daily["source"]) == {"import"}
    assert data.recent_runs == [run]
    assert data.runs_in_progress == 0


def test_overview_of_an_empty_site():
    data = selectors.dashboard_overview()

    assert (data.items, data.interactions, data.active_run, data.headline) == (0, 0, None, {})
    assert data.daily.empty


def test_a_run_keeps_its_per_rater_figures(two_taste_catalog):
    run = launch("itemknn")

    columns = PerUserMetrics.objects.get(run=run).columns

    assert len(columns["user_id"]) == run.metrics["users"] == 24
    assert set(columns) == {
        "user_id",
        "cold",
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
    }
    mean = sum(columns["ndcg_at_10"]) / 24
    assert mean == pytest.approx(run.metrics["ndcg_at_10"], abs=1e-5)


def test_comparable_runs_get_a_paired_test(two_taste_catalog):
    popularity, knn = launch("popularity"), launch("itemknn")

    comparison = selectors.run_comparison(run_ids=[popularity.pk, knn.pk])

    assert comparison.is_comparable
    assert comparison.baseline == popularity
    assert list(comparison.tests) == list(significance.STORED_COLUMNS[:10])  # every kept one
    for metric in ("ndcg_at_10", "recall_at_10", "mrr_at_10", "map"):
        test = comparison.tests[metric][knn.pk]
        assert test.n == 24
        assert test.mean_difference == pytest.approx(
            knn.metrics[metric] - popularity.metrics[metric], abs=1e-5
        )
    test = comparison.tests["ndcg_at_10"][knn.pk]
    assert comparison.difference_metric == "ndcg_at_10"
    ndcg = next(row for row in comparison.rows if row.name == "ndcg_at_10")
    assert ndcg.values == [popularity.metrics["ndcg_at_10"], knn.metrics["ndcg_at_10"]]
    verdict = "better" if test.mean_difference > 0 else "worse"
    assert ndcg.differences[0][1] == verdict
    assert list(comparison.ranking.columns) == [
        f"run {popularity.pk} · popularity",
        f"run {knn.pk} · itemknn",
    ]
    assert list(comparison.cold_warm.index) == ["cold raters"]  # everyone has < 20 ratings
    assert len(comparison.differences[f"run {knn.pk} · itemknn"]) == 24


def test_runs_on_different_splits_are_not_compared(two_taste_catalog):
    first, second = launch("popularity", seed=1), launch("itemknn", seed=2)

    comparison = selectors.run_comparison(run_ids=[first.pk, second.pk])

    assert not comparison.is_comparable
    assert "different seeds" in comparison.problems[0]
    assert comparison.tests == {}


def test_comparability_names_protocol_and_data_differences():
    runs = [
        TrainingRun(pk=1, protocol="p1", status="succeeded", dataset_stats={"sha256": "aa"}),
        TrainingRun(pk=2, protocol="p3", status="succeeded", dataset_stats={"sha256": "bb"}),
        TrainingRun(pk=3, protocol="p1", status="failed", dataset_stats={"sha256": "aa"}),
    ]

    problems = selectors.comparability_problems(runs)

    assert "Runs 3 have not succeeded" in problems[0]
    assert "different protocols (run 1: P1, run 2: P3, run 3: P1)" in problems[1]
    assert "different data (fingerprints run 1: aa, run 2: bb, run 3: aa)" in problems[2]


def test_runs_without_per_rater_figures_are_listed(two_taste_catalog):
    popularity, knn = launch("popularity"), launch("itemknn")
    PerUserMetrics.objects.filter(run=knn).delete()

    comparison = selectors.run_comparison(run_ids=[popularity.pk, knn.pk])

    assert comparison.without_per_user == [knn.pk]
    assert comparison.tests["ndcg_at_10"] == {knn.pk: None}
    assert comparison.differences == {}


def rating_run(raters: list[str], rmse: list[float], mae: list[float]) -> TrainingRun:
    """A succeeded P2 run on the same data and seed, with hand-made per-rater errors."""
    run = TrainingRun.objects.create(
        algorithm="biased_mf",
        protocol="p2",
        status="succeeded",
        dataset_stats={"sha256": "same"},
        metrics={"rmse": sum(rmse) / len(rmse), "mae": sum(mae) / len(mae)},
    )
    PerUserMetrics.objects.create(run=run, columns={"user_id": raters, "rmse": rmse, "mae": mae})
    return run


def test_rating_runs_are_paired_on_per_rater_rmse_and_mae():
    base = rating_run(
        ["a", "b", "c", "d", "e", "f"],
        [1.0, 1.2, 0.8, 1.1, 0.9, 1.3],
        [0.8, 1.0, 0.6, 0.9, 0.7, 1.0],
    )
    # The other run evaluated raters a, b, c only. Their RMSE drops by 0.1, 0.2, 0.3 and their
    # MAE rises by 0.1, 0.2, 0.3: mean difference ∓0.2, sd 0.1, t = ∓2 sqrt 3 on 2 degrees of
    # freedom (p = 1 - sqrt(12 / 14)); every difference has one sign, so Wilcoxon p = 2 / 2^3.
    other = rating_run(["a", "b", "c"], [0.9, 1.0, 0.5], [0.9, 1.2, 0.9])

    comparison = selectors.run_comparison(run_ids=[base.pk, other.pk])

    assert comparison.is_comparable
    assert list(comparison.tests) == ["rmse", "mae"]
    rmse, mae = comparison.tests["rmse"][other.pk], comparison.tests["mae"][other.pk]
    assert (rmse.n, mae.n) == (3, 3)
    assert (rmse.mean_difference, mae.mean_difference) == (
        pytest.approx(-0.2),
        pytest.approx(0.2),
    )
    assert rmse.t_pvalue == mae.t_pvalue == pytest.approx(1 - (12 / 14) ** 0.5)  # 0.07418
    assert rmse.wilcoxon_pvalue == mae.wilcoxon_pvalue == pytest.approx(0.25)
    assert comparison.difference_metric == "rmse"
    differences = comparison.differences[f"run {other.pk} · biased_mf"]
    assert differences.round(6).tolist() == [-0.1, -0.2, -0.3]


def test_a_significant_drop_in_error_is_better_and_a_rise_is_worse():
    raters = list("abcdefgh")
    base = rating_run(raters, [1.0] * 8, [1.0] * 8)
    drops = [0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2]
    other = rating_run(raters, drops, [2 - value for value in drops])

    rows = selectors.run_comparison(run_ids=[base.pk, other.pk]).significance_rows

    assert [(r.metric, r.run, r.verdict) for r in rows] == [
        ("rmse", other, "better"),
        ("mae", other, "worse"),
    ]
    # Every rater moved the same way: Wilcoxon p = 2 / 2^8; Holm doubles the smaller of two.
    assert [r.test.wilcoxon_pvalue for r in rows] == [pytest.approx(2 / 2**8)] * 2
    assert [r.test.adjusted_pvalue for r in rows] == [pytest.approx(4 / 2**8)] * 2


def test_two_differences_each_significant_alone_are_not_together():
    raters = ["a", "b", "c", "d", "e", "f"]
    base = rating_run(raters, [1.0] * 6, [1.0] * 6)
    other = rating_run(raters, [0.9, 0.8, 0.7, 0.6, 0.5, 0.4], [1.1, 1.2, 1.3, 1.4, 1.5, 1.6])

    rows = selectors.run_comparison(run_ids=[base.pk, other.pk]).significance_rows

    assert [r.test.wilcoxon_pvalue for r in rows] == [pytest.approx(0.03125)] * 2  # < 0.05
    assert [r.test.adjusted_pvalue for r in rows] == [pytest.approx(0.0625)] * 2
    assert [r.verdict for r in rows] == ["", ""]


def test_a_p2_run_keeps_each_raters_rmse_and_mae(two_taste_catalog):
    run = launch("biased_mf", protocol="p2", config={"factors": 4, "epochs": 4, "burn_in": 2})

    columns = PerUserMetrics.objects.get(run=run).columns

    assert set(columns) == {"user_id", "rmse", "mae"}
    assert len(columns["user_id"]) == 24  # every rater has held-out ratings in some fold
    assert all(rmse >= mae >= 0 for rmse, mae in zip(columns["rmse"], columns["mae"], strict=True))


def test_rollback_target_is_the_run_that_served_before(two_taste_catalog, operator):
    first, second = launch("popularity"), launch("itemknn")
    services.training_run_activate(run=first, activated_by=operator)
    assert selectors.rollback_target_get() is None

    services.training_run_activate(run=second, activated_by=operator)

    assert selectors.rollback_target_get() == first
    assert selectors.active_activation_get().run == second


def test_rater_search_finds_external_ids_and_usernames_exact_match_first(django_user_model):
    longer = Rater.objects.create(external_id="1960")
    exact = Rater.objects.create(external_id="196")
    user = django_user_model.objects.create_user(username="alice196")
    account = Rater.objects.create(user=user)

    assert selectors.rater_search(query="196") == [exact, longer, account]
    assert selectors.rater_search(query="ALICE") == [account]
    assert selectors.rater_search(query="nobody") == []


def test_item_stats_count_ratings_and_sources(two_taste_catalog):
    item = two_taste_catalog[0]
    rater = Rater.objects.create(external_id="late")
    rate(rater, item, timezone.now(), source="api", event="click", value=1)

    stats = selectors.item_stats(item=item)

    # items 0..7 are rated 4 (even n) by the group's raters except those who miss them
    assert (stats.raters, stats.ratings) == (11, 10)
    assert stats.mean_rating == 4.0
    assert stats.by_source == {"import": 10, "api": 1}
    assert stats.by_event == {"rating": 10, "click": 1}
    assert stats.value_counts.to_dict("list") == {"value": [4.0], "count": [10]}


def test_algorithm_catalogue_carries_each_fields_comment_as_help():
    catalogue = {a["name"]: a for a in selectors.algorithm_catalogue()}
    params = {p["name"]: p for p in catalogue["itemknn"]["params"]}

    assert params["neighbours"]["default"] == 150
    assert params["neighbours"]["help"].startswith("How many most-similar items each candidate")
    assert "BM25" in params["bm25_k1"]["help"]
