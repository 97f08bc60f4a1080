"""Training-run and recommendation APIs."""

from __future__ import annotations

import pytest
from django.urls import reverse

from catalog.models import Rater
from recommender.models import TrainingRun

pytestmark = pytest.mark.django_db

OPERATOR_ENDPOINTS = [
    ("get", "api-run-list", {}),
    ("post", "api-run-list", {}),
    ("get", "api-run-detail", {"run_id": 1}),
    ("post", "api-run-cancel", {"run_id": 1}),
    ("post", "api-run-activate", {"run_id": 1}),
    ("get", "api-algorithm-list", {}),
    ("get", "api-rater-recommendations", {"external_id": "r1"}),
    ("get", "api-similar-items", {"item_id": 1}),
    ("get", "api-metrics", {}),
]


@pytest.mark.parametrize(("method", "name", "kwargs"), OPERATOR_ENDPOINTS)
def test_anonymous_and_end_users_are_refused(api_client, end_user, method, name, kwargs):
    url = reverse(name, kwargs=kwargs)
    assert getattr(api_client, method)(url).status_code in (401, 403)

    api_client.force_authenticate(end_user)
    assert getattr(api_client, method)(url).status_code == 403


def test_launch_trains_and_detail_shows_progress_and_epochs(
    operator_api, two_taste_catalog, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = operator_api.post(
            reverse("api-run-list"),
            {"algorithm": "itemknn", "config": {"neighbours": 5}},
            format="json",
        )

    assert response.status_code == 201, response.json()
    detail = operator_api.get(reverse("api-run-detail", args=[response.json()["id"]])).json()
    assert detail["status"] == "succeeded", detail["error"]
    assert detail["progress"] == 1.0
    assert detail["metrics"]["ndcg_at_10"] > 0
    assert detail["epochs"][0]["epoch"] == 1


def test_a_bad_hyper_parameter_gets_a_message_naming_it(operator_api):
    response = operator_api.post(
        reverse("api-run-list"), {"algorithm": "ease", "config": {"l2": -5}}, format="json"
    )

    assert response.status_code == 400
    assert "l2" in str(response.json()["error"]["details"])
    assert TrainingRun.objects.count() == 0


def test_activate_then_recommend_for_a_rater(
    operator_api, two_taste_catalog, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        run_id = operator_api.post(
            reverse("api-run-list"), {"algorithm": "itemknn"}, format="json"
        ).json()["id"]
    with django_capture_on_commit_callbacks(execute=True):
        activated = operator_api.post(reverse("api-run-activate", args=[run_id]))
    rater = Rater.objects.get(external_id="g1r2")

    response = operator_api.get(
        reverse("api-rater-recommendations", args=[rater.external_id]), {"k": 2}
    )

    assert activated.status_code == 200
    body = response.json()
    assert body["run_id"] == run_id
    assert body["results"][0]["external_id"] == "i10"
    assert len(body["results"]) == 2


def test_cancel_a_pending_run(operator_api):
    run = TrainingRun.objects.create(algorithm="popularity")

    response = operator_api.post(reverse("api-run-cancel", args=[run.pk]))

    assert response.json()["status"] == "cancelled"


def test_algorithms_list_their_hyper_parameters(operator_api):
    response = operator_api.get(reverse("api-algorithm-list"))

    names = {a["name"] for a in response.json()}
    assert {"popularity", "itemknn", "ease"} <= names
