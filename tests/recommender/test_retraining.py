"""The feedback loop: retrain when due, include new feedback, ship only a better model."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from catalog.models import Interaction, Item, Rater
from catalog.services import feedback_record_many
from recommender import services
from recommender.models import ServingPolicy, TrainingRun

pytestmark = pytest.mark.django_db


def activate(algorithm: str, capture) -> TrainingRun:
    run = services.training_run_create(algorithm=algorithm, enqueue=False)
    services.training_run_execute(run_id=run.pk)
    run.refresh_from_db()
    with capture(execute=True):
        services.training_run_activate(run=run)
    return run


def test_nothing_is_due_with_the_policy_off(two_taste_catalog):
    assert services.retrain_due(ServingPolicy.current(), timezone.now()) == ""
    assert services.retrain_check() is None


def test_schedule_and_threshold_make_a_retrain_due(two_taste_catalog):
    policy = ServingPolicy.current()
    policy.retrain_every_hours = 24
    policy.last_retrain_at = timezone.now() - timedelta(hours=1)
    assert services.retrain_due(policy, timezone.now()) == ""
    assert services.retrain_due(policy, timezone.now() + timedelta(hours=24)) == "schedule"

    policy.retrain_every_hours = 0
    policy.retrain_after_interactions = 2
    feedback_record_many(events=[{"rater": "g0r1", "item": "i3", "value": 4}])
    assert services.retrain_due(policy, timezone.now()) == ""
    feedback_record_many(events=[{"rater": "g0r2", "item": "i4", "value": 4}])
    assert services.retrain_due(policy, timezone.now()) == "threshold"


def test_a_retrain_includes_new_feedback_and_ships_when_not_worse(
    two_taste_catalog, django_capture_on_commit_callbacks
):
    active = activate("itemknn", django_capture_on_commit_callbacks)
    ServingPolicy.objects.filter(pk=ServingPolicy.current().pk).update(
        retrain_after_interactions=1, retrain_algorithm="itemknn"
    )
    feedback_record_many(events=[{"rater": "g0r1", "item": "i1", "value": 5}])

    with django_capture_on_commit_callbacks(execute=True):
        run = services.retrain_check()

    run.refresh_from_db()
    assert run.trigger == "threshold"
    assert run.dataset_stats["interactions"] == Interaction.objects.count()
    assert run.gate.startswith("Shipped")
    assert TrainingRun.objects.get(is_active=True) == run
    assert active.pk != run.pk


def test_a_worse_retrain_stays_a_candidate_and_says_why(
    two_taste_catalog, django_capture_on_commit_callbacks
):
    active = activate("itemknn", django_capture_on_commit_callbacks)
    ServingPolicy.objects.filter(pk=ServingPolicy.current().pk).update(
        retrain_every_hours=1, retrain_algorithm="popularity"
    )

    with django_capture_on_commit_callbacks(execute=True):
        run = services.retrain_check()

    run.refresh_from_db()
    assert run.status == TrainingRun.Status.SUCCEEDED
    assert run.gate.startswith("Kept as a candidate: ndcg_at_10")
    assert TrainingRun.objects.get(is_active=True) == active


def test_erased_raters_are_gone_from_the_next_training(two_taste_catalog):
    from catalog.services import rater_erase

    rater_erase(rater=Rater.objects.get(external_id="g0r1"))
    run = services.training_run_create(algorithm="popularity", enqueue=False)
    services.training_run_execute(run_id=run.pk)

    run.refresh_from_db()
    assert run.dataset_stats["raters"] == Rater.objects.count() == 23
    assert Item.objects.count() == 16
