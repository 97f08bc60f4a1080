"""The feedback loop end to end on the real broker: API feedback → beat's check → worker → gate."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from django.conf import settings as django_settings
from django.urls import reverse
from django.utils import timezone

from catalog.models import Interaction
from catalog.services import api_key_create
from recommender import services
from recommender.models import ServingPolicy, TrainingRun
from recommender.pipeline import dataset_fingerprint
from recommender.services.training import training_frame
from recsite.celery import app as celery_app

pytestmark = pytest.mark.integration

FEEDBACK = [  # two raters rate the item their taste group misses: new, in-taste feedback
    {"rater": "g0r1", "item": "i1", "value": 5},
    {"rater": "g1r2", "item": "i10", "value": 5},
]


def wait_for(condition: Callable[[], object], timeout: float = 120.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def trained_and_active(algorithm: str) -> TrainingRun:
    run = services.training_run_create(algorithm=algorithm, enqueue=False)
    services.training_run_execute(run_id=run.pk)
    run.refresh_from_db()
    return services.training_run_activate(run=run)


def beat_sends_the_retrain_check() -> None:
    """What Celery beat does at each tick of the "retrain-check" entry: send it by name."""
    entry = django_settings.CELERY_BEAT_SCHEDULE["retrain-check"]
    celery_app.send_task(entry["task"])


def the_automatic_run() -> TrainingRun | None:
    return TrainingRun.objects.filter(trigger="threshold").first()


@pytest.mark.parametrize(
    ("active_algorithm", "retrain_algorithm", "ships"),
    [("popularity", "itemknn", True), ("itemknn", "popularity", False)],
)
def test_feedback_through_the_api_is_retrained_on_the_worker_and_gated(
    celery_worker, two_taste_catalog, api_client, active_algorithm, retrain_algorithm, ships
):
    active = trained_and_active(active_algorithm)
    ServingPolicy.objects.filter(pk=ServingPolicy.current().pk).update(
        retrain_after_interactions=2,
        retrain_every_hours=0,
        retrain_algorithm=retrain_algorithm,
        retrain_config={},
        last_retrain_at=timezone.now(),
    )
    _, raw = api_key_create(name="app", scopes=["feedback"])
    api_client.credentials(HTTP_AUTHORIZATION=f"Api-Key {raw}")

    posted = api_client.post(reverse("api-events"), {"events": FEEDBACK}, format="json")
    beat_sends_the_retrain_check()
    wait_for(lambda: (r := the_automatic_run()) and r.is_finished, what="the retrain")

    assert posted.status_code == 201, posted.json()
    run = the_automatic_run()
    assert run.status == TrainingRun.Status.SUCCEEDED, run.error
    assert run.algorithm == retrain_algorithm
    # The run saw exactly the data as it stands now, feedback included.
    assert Interaction.objects.filter(source="api").count() == 2
    assert run.dataset_stats == dataset_fingerprint(training_frame())
    assert run.dataset_stats["interactions"] == Interaction.objects.count() == 24 * 7 + 2
    assert ServingPolicy.current().last_retrain_at is not None
    now_active = TrainingRun.objects.get(is_active=True)
    if ships:
        assert run.gate.startswith("Shipped: better, ndcg_at_10"), run.gate
        assert now_active == run
    else:
        assert run.gate.startswith("Kept as a candidate: not better, ndcg_at_10"), run.gate
        assert now_active == active
    assert f"run {active.pk}'s settings ({active_algorithm})" in run.gate
