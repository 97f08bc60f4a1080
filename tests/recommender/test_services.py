"""Training runs: validation, lifecycle, progress, cancel, reaping, activation and serving."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from catalog.models import Interaction, Item, Rater
from catalog.services import interaction_record
from recommender import services
from recommender.artifacts import load_artifact
from recommender.models import EpochMetric, ModelActivation, RecommendationSnapshot, TrainingRun
from recommender.serving import recommend_for_rater

pytestmark = pytest.mark.django_db


def launch(algorithm: str = "itemknn", **kwargs) -> TrainingRun:
    run = services.training_run_create(algorithm=algorithm, enqueue=False, **kwargs)
    services.training_run_execute(run_id=run.pk)
    run.refresh_from_db()
    return run


def test_a_bad_hyper_parameter_is_refused_before_queueing():
    with pytest.raises(services.TrainingConfigError) as error:
        services.training_run_create(algorithm="itemknn", config={"neighbours": "many"})

    assert error.value.field == "neighbours"
    assert TrainingRun.objects.count() == 0


def test_an_unknown_algorithm_is_refused():
    with pytest.raises(services.TrainingConfigError) as error:
        services.training_run_create(algorithm="magic")

    assert error.value.field == "algorithm"


def test_p2_needs_a_rating_model():
    with pytest.raises(services.TrainingConfigError) as error:
        services.training_run_create(algorithm="itemknn", protocol="p2")

    assert error.value.field == "protocol"


def test_launch_is_queued_after_commit(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        run = services.training_run_create(algorithm="popularity")

    assert len(callbacks) == 1
    assert run.status == TrainingRun.Status.PENDING


def test_a_run_trains_evaluates_and_saves_a_loadable_artifact(two_taste_catalog, media_root):
    run = launch("itemknn")

    assert run.status == TrainingRun.Status.SUCCEEDED, run.error
    assert run.metrics["ndcg_at_10"] > 0
    assert run.dataset_stats["interactions"] == Interaction.objects.count()
    assert run.started_at <= run.finished_at
    loaded = load_artifact(media_root / run.artifact.name)
    assert len(loaded.items) == 16
    assert EpochMetric.objects.filter(run=run).exists()


def test_running_a_claimed_run_again_does_nothing(two_taste_catalog):
    run = launch("popularity")

    services.training_run_execute(run_id=run.pk)

    assert TrainingRun.objects.get(pk=run.pk).finished_at == run.finished_at


def test_a_run_without_data_fails_with_a_reason():
    run = launch("popularity")

    assert run.status == TrainingRun.Status.FAILED
    assert "no interactions" in run.error


def test_cancelling_a_pending_run_ends_it_at_once():
    run = services.training_run_create(algorithm="popularity", enqueue=False)

    services.training_run_cancel(run=run)
    services.training_run_execute(run_id=run.pk)

    run.refresh_from_db()
    assert run.status == TrainingRun.Status.CANCELLED
    assert run.started_at is None


def test_a_cancel_request_stops_a_running_run_after_its_epoch(two_taste_catalog, monkeypatch):
    run = services.training_run_create(algorithm="bpr", config={"epochs": 5}, enqueue=False)
    # The operator presses cancel while the run is on its first epoch.
    original = services.training._EpochRecorder._tick

    def cancel_then_tick(self):
        TrainingRun.objects.filter(pk=self.run.pk).update(cancel_requested=True)
        original(self)

    monkeypatch.setattr(services.training._EpochRecorder, "_tick", cancel_then_tick)

    services.training_run_execute(run_id=run.pk)

    run.refresh_from_db()
    assert run.status == TrainingRun.Status.CANCELLED
    assert run.epochs_done == 1
    assert not run.artifact


def test_runs_whose_worker_died_are_marked_failed():
    stale = TrainingRun.objects.create(
        algorithm="popularity",
        status=TrainingRun.Status.RUNNING,
        heartbeat_at=timezone.now() - timedelta(minutes=30),
    )
    alive = TrainingRun.objects.create(
        algorithm="popularity", status=TrainingRun.Status.RUNNING, heartbeat_at=timezone.now()
    )

    assert services.stale_runs_fail() == 1

    stale.refresh_from_db()
    alive.refresh_from_db()
    assert stale.status == TrainingRun.Status.FAILED
    assert "Worker lost" in stale.error
    assert alive.status == TrainingRun.Status.RUNNING


def test_activation_keeps_one_active_run_and_rollback_restores_the_older(
    two_taste_catalog, django_capture_on_commit_callbacks, operator
):
    first, second = launch("popularity"), launch("itemknn")

    with django_capture_on_commit_callbacks(execute=True):
        services.training_run_activate(run=first, activated_by=operator)
        services.training_run_activate(run=second, activated_by=operator)
        services.training_run_activate(run=first, activated_by=operator)  # rollback

    assert list(TrainingRun.objects.filter(is_active=True)) == [first]
    assert [a.run_id for a in ModelActivation.objects.order_by("id")] == [
        first.pk,
        second.pk,
        first.pk,
    ]
    assert RecommendationSnapshot.objects.filter(run=first).count() == Rater.objects.count()


def test_a_failed_run_cannot_be_activated():
    run = launch("popularity")

    with pytest.raises(services.ActivationError):
        services.training_run_activate(run=run)


def test_serving_uses_the_precomputed_list_then_folds_in_a_new_rating(
    two_taste_catalog, django_capture_on_commit_callbacks
):
    run = launch("itemknn")
    with django_capture_on_commit_callbacks(execute=True):
        services.training_run_activate(run=run)
    rater = Rater.objects.get(external_id="g0r3")

    before = recommend_for_rater(rater, n=3)

    assert before.strategy == "precomputed"
    assert before.items[0].item.external_id == "i3"  # the one group-0 item they have not rated
    assert all(r.item.external_id != "i0" for r in before.items)

    interaction_record(
        rater=rater,
        item=Item.objects.get(external_id="i3"),
        value=5,
        occurred_at=timezone.now() + timedelta(seconds=1),
    )
    after = recommend_for_rater(rater, n=3)

    assert after.strategy == "folded-in"
    assert all(r.item.external_id != "i3" for r in after.items)


def test_a_rater_with_no_ratings_gets_popular_items(two_taste_catalog):
    newcomer = Rater.objects.create(external_id="new")

    result = recommend_for_rater(newcomer, n=5)

    assert result.strategy == "popularity"
    assert len(result.items) == 5
