"""Operator dashboard pages: who may see them, and what they show."""

from __future__ import annotations

import json

import pytest
from django.urls import reverse

from catalog.models import Interaction, Item, Rater
from recommender import services
from recommender.dashboard_views import WHAT_IF_SESSION_KEY
from recommender.models import ModelActivation, PerUserMetrics, TrainingRun
from tests.recommender.helpers import launch

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fast_passwords(settings):
    """Cheap password hashing for the people fixtures (the default costs ~1 s per user)."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


PAGES = [
    ("get", "recommender:overview", {}),
    ("get", "recommender:run-compare", {}),
    ("get", "recommender:run-curves", {"run_id": 1}),
    ("get", "recommender:model-registry", {}),
    ("get", "recommender:rater-browser", {}),
    ("get", "recommender:rater-recommendations", {"rater_id": 1}),
    ("post", "recommender:rater-what-if-load", {"rater_id": 1}),
    ("get", "recommender:rater-what-if", {}),
    ("post", "recommender:rater-what-if", {}),
    ("get", "recommender:item-inspect", {"item_id": 1}),
]


@pytest.mark.parametrize(("method", "name", "kwargs"), PAGES)
def test_only_operators_get_in(client, end_user, method, name, kwargs):
    url = reverse(name, kwargs=kwargs)

    response = getattr(client, method)(url)
    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))

    client.force_login(end_user)
    assert getattr(client, method)(url).status_code == 403


def test_home_takes_operators_to_the_dashboard(operator_client):
    assert operator_client.get(reverse("home")).url == reverse("recommender:overview")


def test_empty_dashboard_says_what_to_do_first(operator_client):
    page = operator_client.get(reverse("recommender:overview")).content.decode()

    assert "No data and no model yet" in page
    assert "import a ratings file" in page
    assert "No runs yet" in page
    assert "No recommendations served in the last 30 days" in page


def test_dashboard_shows_the_serving_model_and_its_figures(
    operator_client, operator, two_taste_catalog
):
    run = launch("itemknn")
    services.training_run_activate(run=run, activated_by=operator)

    response = operator_client.get(reverse("recommender:overview"))
    page = response.content.decode()

    assert f"Run {run.pk} · itemknn" in page
    assert "by olivia" in page
    assert "ndcg_at_10" in page
    assert 'id="chart-over_time"' in page
    assert response.context["charts"]["over_time"]["layout"]["title"]["text"] == (
        "Interactions over time"
    )


def test_launch_form_has_one_input_per_hyper_parameter_with_default_and_help(operator_client):
    response = operator_client.get(reverse("recommender:run-list"))
    page = response.content.decode()

    assert 'name="itemknn__neighbours"' in page
    assert 'value="150"' in page
    assert "How many most-similar items each candidate item keeps" in page
    assert 'name="ease__l2"' in page
    assert 'fieldset class="params" data-algorithm="popularity"' in page


def test_launch_uses_the_chosen_algorithms_inputs_and_ignores_the_others(
    operator_client, django_capture_on_commit_callbacks, two_taste_catalog
):
    with django_capture_on_commit_callbacks(execute=True):
        operator_client.post(
            reverse("recommender:run-list"),
            {
                "algorithm": "itemknn",
                "itemknn__neighbours": "5",
                "itemknn__alpha": "",  # empty keeps the default
                "ease__l2": "-1",  # another algorithm's input: not read
                "protocol": "p1",
                "seed": "3",
            },
        )

    run = TrainingRun.objects.get()
    assert run.config["neighbours"] == 5
    assert run.config["alpha"] == 0.7
    assert run.status == "succeeded"


def test_a_value_of_the_wrong_type_is_refused_beside_its_input(operator_client):
    response = operator_client.post(
        reverse("recommender:run-list"),
        {"algorithm": "itemknn", "itemknn__neighbours": "many", "protocol": "p1", "seed": "1"},
    )

    assert response.context["form"].errors["itemknn__neighbours"] == ["Enter a whole number."]
    assert 'aria-invalid="true"' in response.content.decode()
    assert TrainingRun.objects.count() == 0


def test_run_list_filters_and_marks_rows_for_live_updates(operator_client, two_taste_catalog):
    launch("popularity")
    TrainingRun.objects.create(algorithm="ease", status="running", epochs_total=2, epochs_done=1)

    everything = operator_client.get(reverse("recommender:run-list")).content.decode()
    running = operator_client.get(reverse("recommender:run-list") + "?status=running")

    assert 'data-runs-poll-url="/api/v1/runs/"' in everything
    assert 'data-finished="false"' in everything
    assert [run.algorithm for run in running.context["page"].object_list] == ["ease"]


def test_run_detail_shows_metrics_config_data_and_live_curves(operator_client, two_taste_catalog):
    run = launch("itemknn", config={"neighbours": 20})

    response = operator_client.get(reverse("recommender:run-detail", args=[run.pk]))
    page = response.content.decode()

    rows = {row["name"]: row for row in response.context["metric_rows"]}
    assert rows["ndcg_at_10"]["cold"] == run.metrics["cold_ndcg_at_10"]
    assert list(rows)[0] == "ndcg_at_10"
    assert "Evaluated on 24 test raters (24 cold, 0 warm)" in page
    assert "users" not in rows
    config = [row["name"] for row in response.context["config_rows"]]
    assert config[:3] == ["neighbours", "alpha", "shrink"]  # the config class's order
    assert run.dataset_stats["sha256"] in page
    assert "<code>20</code>" in page
    assert "(default)" in page
    assert 'data-figure-url="/operator/runs/' in page
    assert "Activate</button>" in page


def test_curves_json_is_the_training_curves_figure(operator_client):
    run = TrainingRun.objects.create(algorithm="bpr", status="running", epochs_total=4)
    run.epoch_metrics.create(epoch=1, name="train_loss", value=0.7)
    run.epoch_metrics.create(epoch=2, name="train_loss", value=0.4)

    figure = operator_client.get(reverse("recommender:run-curves", args=[run.pk])).json()

    assert figure["layout"]["title"]["text"] == "Training curves"
    assert [trace["name"] for trace in figure["data"]] == ["train_loss"]
    assert figure["data"][0]["x"]["bdata"]  # Plotly's typed array: drawn as is by plotly.js


def test_activate_returns_to_a_safe_next_page_only(operator_client, two_taste_catalog):
    run = launch("popularity")
    url = reverse("recommender:run-activate", args=[run.pk])

    back = operator_client.post(url, {"next": reverse("recommender:model-registry")})
    elsewhere = operator_client.post(url, {"next": "https://evil.example/"})

    assert back.url == reverse("recommender:model-registry")
    assert elsewhere.url == reverse("recommender:run-detail", args=[run.pk])


def test_registry_shows_who_activated_what_and_rolls_back(
    operator_client, operator, two_taste_catalog
):
    first, second = launch("popularity"), launch("itemknn")
    services.training_run_activate(run=first, activated_by=operator)
    services.training_run_activate(run=second, activated_by=operator)

    page = operator_client.get(reverse("recommender:model-registry")).content.decode()
    assert f"Roll back to run {first.pk} (popularity)" in page
    assert "activated by olivia" in page

    operator_client.post(
        reverse("recommender:run-activate", args=[first.pk]),
        {"next": reverse("recommender:model-registry")},
    )

    assert TrainingRun.objects.get(is_active=True) == first
    assert ModelActivation.objects.count() == 3
    assert ModelActivation.objects.first().previous_run == second


def test_empty_registry_says_to_launch_a_run(operator_client):
    page = operator_client.get(reverse("recommender:model-registry")).content.decode()

    assert "No model yet" in page
    assert "launch a run" in page


def test_compare_shows_metrics_differences_significance_and_charts(
    operator_client, two_taste_catalog
):
    popularity, knn = launch("popularity"), launch("itemknn")

    response = operator_client.get(
        reverse("recommender:run-compare") + f"?runs={knn.pk}&runs={popularity.pk}"
    )
    page = response.content.decode()

    assert response.context["comparison"].baseline == popularity  # the oldest by default
    assert "Comparable: same protocol (P1)" in page
    assert "Wilcoxon" in page
    for metric in ("ndcg_at_10", "recall_at_10", "precision_at_10", "mrr_at_10", "map"):
        assert f'<tr data-metric="{metric}" data-run="{knn.pk}">' in page
    assert set(response.context["charts"]) == {"ranking", "cold_warm", "differences"}
    assert f"Activate run {knn.pk} (itemknn)" in page


def test_compare_tests_rating_errors_per_rater(operator_client):
    raters = ["a", "b", "c", "d", "e", "f"]
    runs = []
    for rmse in ([1.0] * 6, [0.9, 0.8, 0.7, 0.6, 0.5, 0.4]):
        run = TrainingRun.objects.create(
            algorithm="biased_mf", protocol="p2", status="succeeded", metrics={"rmse": 1.0}
        )
        PerUserMetrics.objects.create(run=run, columns={"user_id": raters, "rmse": rmse})
        runs.append(run)

    response = operator_client.get(
        reverse("recommender:run-compare") + f"?runs={runs[0].pk}&runs={runs[1].pk}"
    )
    page = response.content.decode()

    assert f'<tr data-metric="rmse" data-run="{runs[1].pk}">' in page
    assert '<td class="num">0.0312</td>' in page  # Wilcoxon p = 2 / 2^6
    # One metric tested: Holm leaves its p-value as it is.
    assert "significant</strong> (adjusted p &lt; 0.05): run better" in page
    figure = response.context["charts"]["differences"]
    assert "Per-rater RMSE difference" in figure["layout"]["title"]["text"]


def test_compare_warns_when_runs_are_not_comparable(operator_client, two_taste_catalog):
    first, second = launch("popularity", seed=1), launch("popularity", seed=2)

    page = operator_client.get(
        reverse("recommender:run-compare") + f"?runs={first.pk}&runs={second.pk}"
    ).content.decode()

    assert "These runs are not directly comparable" in page
    assert "different seeds" in page
    assert "Not tested" in page


def test_compare_without_a_choice_lists_runs_to_pick(operator_client, two_taste_catalog):
    run = launch("popularity")

    page = operator_client.get(reverse("recommender:run-compare")).content.decode()

    assert f'name="runs" value="{run.pk}"' in page
    assert "Choose runs" in page


def test_rater_search_by_external_id_opens_the_only_match(operator_client, two_taste_catalog):
    rater = Rater.objects.get(external_id="g1r11")

    response = operator_client.get(reverse("recommender:rater-browser") + "?q=g1r11")

    assert response.url == reverse("recommender:rater-recommendations", args=[rater.pk])


def test_rater_page_shows_history_and_lists_with_reasons_side_by_side(
    operator_client, operator, two_taste_catalog
):
    popularity, knn = launch("popularity"), launch("itemknn")
    services.training_run_activate(run=knn, activated_by=operator)
    rater = Rater.objects.get(external_id="g0r1")

    response = operator_client.get(
        reverse("recommender:rater-recommendations", args=[rater.pk]) + f"?run={popularity.pk}"
    )
    page = response.content.decode()

    assert [lst.run for lst in response.context["lists"]] == [knn, popularity]
    assert "Because you rated" in page
    assert "Popular with raters overall" in page
    assert page.count('<tr><td><a href="/operator/items/') == 7  # the history rows


def test_what_if_adds_removes_and_clears_ratings_in_the_session_only(
    operator_client, operator, two_taste_catalog
):
    run = launch("itemknn")
    services.training_run_activate(run=run, activated_by=operator)
    url = reverse("recommender:rater-what-if")

    operator_client.post(url, {"add": "1", "item": "i8", "value": "5"})
    operator_client.post(url, {"add": "1", "item": "Item 9", "value": "4"})
    response = operator_client.get(url)

    assert operator_client.session[WHAT_IF_SESSION_KEY] == [
        [Item.objects.get(external_id="i8").pk, 5.0],
        [Item.objects.get(external_id="i9").pk, 4.0],
    ]
    recommended = {rec.item.title for rec in response.context["lists"][0].items}
    assert recommended == {f"Item {n}" for n in range(10, 16)} | {f"Item {n}" for n in range(4)}
    assert Interaction.objects.count() == 168

    operator_client.post(url, {"remove": str(Item.objects.get(external_id="i8").pk)})
    assert len(operator_client.session[WHAT_IF_SESSION_KEY]) == 1
    operator_client.post(url, {"clear": "1"})
    assert operator_client.session[WHAT_IF_SESSION_KEY] == []


def test_what_if_refuses_an_unknown_or_ambiguous_item_beside_the_field(
    operator_client, two_taste_catalog
):
    url = reverse("recommender:rater-what-if")

    unknown = operator_client.post(url, {"add": "1", "item": "zzz", "value": "4"})
    ambiguous = operator_client.post(url, {"add": "1", "item": "Item", "value": "4"})
    exact_title = operator_client.post(url, {"add": "1", "item": "item 1", "value": "4"})

    assert "No item has the id or a title like “zzz”" in unknown.context["form"].errors["item"][0]
    assert "Several items match" in ambiguous.context["form"].errors["item"][0]
    assert exact_title.status_code == 302  # "Item 1" is meant, not "Item 10"
    assert operator_client.session[WHAT_IF_SESSION_KEY] == [[two_taste_catalog[1].pk, 4.0]]


def test_what_if_starts_from_a_real_raters_ratings(operator_client, two_taste_catalog):
    rater = Rater.objects.get(external_id="g0r3")

    operator_client.post(reverse("recommender:rater-what-if-load", args=[rater.pk]))

    assert len(operator_client.session[WHAT_IF_SESSION_KEY]) == 7


def test_item_page_shows_ratings_chart_and_similar_items_per_model(
    operator_client, operator, two_taste_catalog
):
    popularity, knn = launch("popularity"), launch("itemknn")
    services.training_run_activate(run=knn, activated_by=operator)
    item = Item.objects.get(external_id="i3")

    response = operator_client.get(
        reverse("recommender:item-inspect", args=[item.pk]) + f"?run={popularity.pk}"
    )

    figure = response.context["charts"]["ratings"]
    assert figure["layout"]["title"]["text"] == "Ratings of Item 3"
    assert figure["data"][0]["type"] == "bar"
    assert [lst.strategy for lst in response.context["lists"]] == ["model", "co-occurrence"]
    assert json.dumps(figure)  # plain JSON, drawn by recsite.js
