"""The feedback loop: retrain when due, include new feedback, ship only a better model."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from catalog.models import Interaction, Item, Rater
from catalog.services import feedback_record_many
from recommender import services
from recommender.algorithms.base import TrainOptions
from recommender.models import ServingPolicy, TrainingRun
from recommender.pipeline import Signal
from recommender.services.retraining import REFRESH_TOLERANCE, GateVerdict, quality_gate
from recommender.services.training import training_frame

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
    assert run.gate.startswith(f"Shipped: a refresh of run {active.pk}'s settings")
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
    assert run.gate.startswith("Kept as a candidate: not better, ndcg_at_10")
    assert "retrained on the same split (protocol p1, seed 42)" in run.gate
    assert TrainingRun.objects.get(is_active=True) == active


def test_erased_raters_are_gone_from_the_next_training(two_taste_catalog):
    from catalog.services import rater_erase

    rater_erase(rater=Rater.objects.get(external_id="g0r1"))
    run = services.training_run_create(algorithm="popularity", enqueue=False)
    services.training_run_execute(run_id=run.pk)

    run.refresh_from_db()
    assert run.dataset_stats["raters"] == Rater.objects.count() == 23
    assert Item.objects.count() == 16


# --- The quality gate's two rules, on runs trained here and measured on the same data ----------


def executed(algorithm: str, trigger: str = "manual") -> TrainingRun:
    run = services.training_run_create(algorithm=algorithm, enqueue=False)
    services.training_run_execute(run_id=run.pk)
    run.refresh_from_db()
    run.trigger = trigger
    return run


def gate(run: TrainingRun) -> GateVerdict:
    return quality_gate(
        run, training_frame(), TrainOptions(seed=run.seed), Signal.from_dict(run.signal)
    )


def record(run: TrainingRun, ndcg: float) -> None:
    run.metrics = {**run.metrics, "ndcg_at_10": ndcg}
    run.save(update_fields=["metrics"])


@pytest.mark.parametrize(
    ("recorded_over_candidate", "ships"),
    [(1.0, True), (1 / 0.99, True), (1 / 0.97, False), (0.5, True)],
)
def test_a_refresh_is_held_to_the_active_runs_recorded_figure_within_the_tolerance(
    two_taste_catalog, django_capture_on_commit_callbacks, recorded_over_candidate, ships
):
    active = activate("itemknn", django_capture_on_commit_callbacks)
    candidate = executed("itemknn", trigger="threshold")
    figure = candidate.metrics["ndcg_at_10"]
    record(active, figure * recorded_over_candidate)

    verdict = gate(candidate)

    assert REFRESH_TOLERANCE == 0.02
    assert verdict.passed is ships
    refresh = f"a refresh of run {active.pk}'s settings with newer data"
    if ships:
        assert verdict.message.startswith(f"Shipped: {refresh}; ndcg_at_10 {figure:.4f} vs")
        assert verdict.message.endswith("within the 2% tolerance.")
    else:
        assert verdict.message == (
            f"Kept as a candidate: {refresh}, but ndcg_at_10 {figure:.4f} vs its recorded "
            f"{figure * recorded_over_candidate:.4f} is more than 2% worse."
        )


def test_different_settings_must_be_strictly_better_on_the_same_split(
    two_taste_catalog, django_capture_on_commit_callbacks
):
    active = activate("itemknn", django_capture_on_commit_callbacks)
    candidate = executed("popularity", trigger="schedule")
    # Tie the candidate with the active settings' figure on this very split: not enough.
    record(candidate, active.metrics["ndcg_at_10"])

    verdict = gate(candidate)

    assert verdict.passed is False
    assert verdict.message.startswith("Kept as a candidate: not better, ndcg_at_10")
    tie = f"{active.metrics['ndcg_at_10']:.4f}"
    assert f"ndcg_at_10 {tie} vs {tie} for run {active.pk}'s settings (itemknn)" in verdict.message


def test_different_and_better_settings_ship(two_taste_catalog, django_capture_on_commit_callbacks):
    active = activate("popularity", django_capture_on_commit_callbacks)
    candidate = executed("itemknn", trigger="schedule")

    verdict = gate(candidate)

    assert candidate.metrics["ndcg_at_10"] > active.metrics["ndcg_at_10"]
    assert verdict.passed is True
    assert verdict.message.startswith("Shipped: better, ndcg_at_10")


def test_a_lower_is_better_gate_metric_keeps_a_refresh_with_a_larger_error(
    two_taste_catalog, django_capture_on_commit_callbacks
):
    ServingPolicy.objects.filter(pk=ServingPolicy.current().pk).update(gate_metric="rmse")
    active = activate("itemknn", django_capture_on_commit_callbacks)
    candidate = executed("itemknn", trigger="threshold")
    candidate.metrics = {**candidate.metrics, "rmse": 1.0}
    active.metrics = {**active.metrics, "rmse": 0.9}
    active.save(update_fields=["metrics"])

    verdict = gate(candidate)

    assert verdict.passed is False
    assert "rmse 1.0000 vs its recorded 0.9000 is more than 2% worse" in verdict.message
