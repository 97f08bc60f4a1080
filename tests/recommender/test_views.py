"""Operator pages for runs: permissions, launching, detail."""

from __future__ import annotations

import pytest
from django.urls import reverse

from recommender.models import TrainingRun

pytestmark = pytest.mark.django_db

PAGES = [
    ("get", "recommender:run-list", {}),
    ("get", "recommender:run-detail", {"run_id": 1}),
    ("post", "recommender:run-cancel", {"run_id": 1}),
    ("post", "recommender:run-activate", {"run_id": 1}),
]


@pytest.mark.parametrize(("method", "name", "kwargs"), PAGES)
def test_anonymous_visitors_and_end_users_are_kept_out(client, end_user, method, name, kwargs):
    url = reverse(name, kwargs=kwargs)
    assert getattr(client, method)(url).status_code == 302

    client.force_login(end_user)
    assert getattr(client, method)(url).status_code == 403


def test_launch_form_queues_a_run(
    operator_client, django_capture_on_commit_callbacks, two_taste_catalog
):
    with django_capture_on_commit_callbacks(execute=True):
        response = operator_client.post(
            reverse("recommender:run-list"),
            {"algorithm": "popularity", "config": "{}", "protocol": "p1", "seed": 7},
        )

    run = TrainingRun.objects.get()
    assert response.url == reverse("recommender:run-detail", args=[run.pk])
    assert (run.status, run.seed) == ("succeeded", 7)
    page = operator_client.get(response.url)
    assert b"ndcg_at_10" in page.content


def test_launch_form_shows_a_bad_value_beside_the_field(operator_client):
    response = operator_client.post(
        reverse("recommender:run-list"),
        {"algorithm": "ease", "ease__l2": "-1", "protocol": "p1", "seed": 1},
    )

    assert response.status_code == 200
    assert response.context["form"].errors["ease__l2"] == ["must be > 0, got -1.0"]
    assert TrainingRun.objects.count() == 0
