"""Hyper-parameter search: trials are ordinary runs on the inner split; the best runs on P1."""

from __future__ import annotations

import pytest
from django.urls import reverse

from recommender import services
from recommender.algorithms.base import ConfigError
from recommender.models import HyperparameterSearch, TrainingRun
from recommender.search import Sampler, validate_space

pytestmark = pytest.mark.django_db


def test_a_space_naming_an_unknown_field_is_refused():
    with pytest.raises(ConfigError, match="not a hyper-parameter"):
        validate_space("ease", {"lambda": {"low": 1, "high": 2}})
    with pytest.raises(ConfigError, match="low < high"):
        validate_space("ease", {"l2": {"low": 5, "high": 1}})


@pytest.mark.parametrize("method", ["random", "tpe"])
def test_samplers_stay_inside_the_space_and_are_seeded(method):
    space = {"l2": {"low": 10, "high": 1000, "log": True}, "dropout": {"choices": [0.0, 0.2]}}

    first = [Sampler(space, method, seed=3).ask() for _ in range(1)]
    again = [Sampler(space, method, seed=3).ask() for _ in range(1)]

    assert first == again
    assert 10 <= first[0]["l2"] <= 1000
    assert first[0]["dropout"] in (0.0, 0.2)


def test_a_search_runs_its_trials_then_the_best_setting_on_p1(two_taste_catalog):
    search = services.search_create(
        algorithm="itemknn",
        space={"neighbours": {"low": 2, "high": 20, "type": "int"}},
        sampler="random",
        max_trials=3,
        enqueue=False,
    )

    services.search_run(search_id=search.pk)

    search.refresh_from_db()
    trials = search.trials.filter(protocol="p1-inner")
    assert search.status == HyperparameterSearch.Status.SUCCEEDED, search.error
    assert trials.count() == 3
    assert all(not t.artifact for t in trials)  # trials are scored, never served
    assert search.best_value == max(t.metrics["ndcg_at_10"] for t in trials)
    assert search.final_run.protocol == "p1"
    assert search.final_run.config == search.best_run.config
    assert search.final_run.status == TrainingRun.Status.SUCCEEDED


def test_a_time_budget_of_one_trial_stops_the_search(two_taste_catalog, monkeypatch):
    search = services.search_create(
        algorithm="ease", max_trials=50, time_budget_seconds=1, enqueue=False
    )
    ticks = iter([0.0, 0.0, 0.5, 2.0, 3.0, 4.0])
    monkeypatch.setattr("recommender.services.search.time.monotonic", lambda: next(ticks))

    services.search_run(search_id=search.pk)

    assert search.trials.filter(protocol="p1-inner").count() == 2


def test_launching_from_the_api_validates_and_queues(
    operator_api, django_capture_on_commit_callbacks
):
    bad = operator_api.post(
        reverse("api-search-list"), {"algorithm": "ease", "max_trials": 0}, format="json"
    )
    with django_capture_on_commit_callbacks() as callbacks:
        good = operator_api.post(
            reverse("api-search-list"),
            {"algorithm": "ease", "sampler": "random", "max_trials": 2},
            format="json",
        )

    assert bad.status_code == 400
    assert good.status_code == 201
    assert good.json()["space"] == {"l2": {"low": 50, "high": 5000, "log": True}}
    assert len(callbacks) == 1


def test_search_pages_are_for_operators(client, end_user, operator):
    search = HyperparameterSearch.objects.create(
        algorithm="ease", space={"l2": {"low": 1, "high": 2}}
    )
    client.force_login(end_user)
    assert client.get(reverse("recommender:search-list")).status_code == 403

    client.force_login(operator)
    assert client.get(reverse("recommender:search-detail", args=[search.pk])).status_code == 200
