"""P1 validation share: per-epoch validation and early stopping under P1, and a serving fit
that trains the epoch count validation chose."""

from __future__ import annotations

import dataclasses
from io import StringIO

import numpy as np
import pandas as pd
import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from recommender import pipeline, services
from recommender.algorithms import ALGORITHMS
from recommender.algorithms.base import ConfigError, TrainOptions
from recommender.data import interactions_from_frame
from recommender.evaluation.splits import stratified_split
from recommender.models import EpochMetric, TrainingRun
from recommender.pipeline import Signal, run_protocol
from tests.recommender.helpers import launch

#: lr at its floor and no decay: the weights barely move, so validation cannot improve after
#: the first epoch, and patience must end training at epoch 1 + patience of 20.
FROZEN_BPR = {
    "factors": 4, "epochs": 20, "batch_size": 16, "lr": 1e-7, "reg": 0.0, "negatives": 1,
    "patience": 2,
}  # fmt: skip
#: A BPR that learns on the small data below.
LEARNING_BPR = {"factors": 8, "epochs": 8, "batch_size": 32, "lr": 0.05, "reg": 0.0}


def groups_frame(users: int = 45, per_user: int = 12) -> pd.DataFrame:
    """Three taste groups of 20 items; each user rated ``per_user`` items of their group."""
    rng = np.random.default_rng(0)
    rows = []
    for u in range(users):
        group = u % 3
        items = rng.choice(np.arange(group * 20, group * 20 + 20), per_user, replace=False)
        rows += [
            (f"u{u}", f"i{i}", float(1 + (u + j) % 5), u * 100 + j) for j, i in enumerate(items)
        ]
    frame = pd.DataFrame(rows, columns=["user_id", "item_id", "value", "timestamp"])
    frame["event_type"] = "rating"
    return frame


def pairs(frame: pd.DataFrame) -> set[tuple[str, str]]:
    return set(zip(frame["user_id"], frame["item_id"], strict=True))


# --- the ML core ------------------------------------------------------------------------------


def test_without_a_share_p1_gives_no_validation_and_patience_does_nothing():
    epochs: list[dict[str, float]] = []
    result = run_protocol(groups_frame(), "bpr", FROZEN_BPR, on_epoch=lambda _, m: epochs.append(m))

    assert len(epochs) == FROZEN_BPR["epochs"]
    assert all("val_ndcg_at_10" not in m for m in epochs)
    assert result.best_epoch is None


def test_a_share_gives_p1_per_epoch_validation_figures():
    epochs: list[dict[str, float]] = []
    result = run_protocol(
        groups_frame(),
        "bpr",
        LEARNING_BPR,
        options=TrainOptions(validation_share=0.2),
        on_epoch=lambda _, m: epochs.append(m),
    )

    assert len(epochs) == LEARNING_BPR["epochs"]
    assert all(0 <= m["val_ndcg_at_10"] <= 1 for m in epochs)
    assert epochs[-1]["val_ndcg_at_10"] > epochs[0]["val_ndcg_at_10"]  # it learns
    assert result.best_epoch == result.model.train_result.best_epoch >= 1
    assert result.metrics["ndcg_at_10"] > 0


def test_patience_stops_p1_training_early():
    result = run_protocol(
        groups_frame(), "bpr", FROZEN_BPR, options=TrainOptions(validation_share=0.2)
    )

    trained = result.model.train_result
    assert trained.stopped_early
    assert trained.epochs_run == 1 + FROZEN_BPR["patience"] < FROZEN_BPR["epochs"]
    assert result.best_epoch == trained.best_epoch == 1


def test_the_model_fits_on_the_inner_train_and_is_measured_with_the_outer_train_as_history(
    monkeypatch,
):
    frame = groups_frame()
    data = Signal().apply(frame, explicit=False)
    outer = stratified_split(data, ratio=0.75, seed=42)
    inner = stratified_split(outer.train, ratio=0.8, seed=42)
    measured = {}
    real_measure = pipeline._measure_ranking

    def spy(model, train, history, test, *args):
        measured.update(train=train, history=history, test=test)
        return real_measure(model, train, history, test, *args)

    monkeypatch.setattr(pipeline, "_measure_ranking", spy)
    run_protocol(frame, "bpr", LEARNING_BPR, options=TrainOptions(validation_share=0.2))

    assert len(measured["train"]) == len(inner.train)
    assert len(measured["history"]) == len(outer.train)  # validation rows known
    assert pairs(measured["test"]) == pairs(outer.test)


@pytest.mark.parametrize("protocol", ["p1", "p1-inner"])
def test_validation_rows_come_from_the_train_part_never_from_p1_test(monkeypatch, protocol):
    frame = groups_frame()
    p1 = stratified_split(Signal().apply(frame, explicit=False), ratio=0.75, seed=42)
    held_out: list[pd.DataFrame] = []
    real_validation = pipeline._validation

    def spy(train, validation):
        held_out.append(validation)
        return real_validation(train, validation)

    monkeypatch.setattr(pipeline, "_validation", spy)
    run_protocol(frame, "bpr", LEARNING_BPR, protocol, options=TrainOptions(validation_share=0.25))

    (validation,) = held_out
    assert len(validation) > 0
    assert pairs(validation) <= pairs(p1.train)
    assert not pairs(validation) & pairs(p1.test)
    if protocol == "p1-inner":  # nor from the inner test split that scores the trial
        inner = stratified_split(p1.train, ratio=0.75, seed=42)
        assert pairs(validation) <= pairs(inner.train)


def test_validation_targets_are_grouped_per_user_in_order_of_first_appearance():
    train = interactions_from_frame(groups_frame())
    validation = pd.DataFrame(
        {
            "user_id": ["u3", "u0", "u3", "u9", "u0", "unknown"],
            "item_id": ["i0", "i1", "i2", "i3", "i4", "i0"],
        }
    )

    data = pipeline._validation(train, validation)

    assert train.users.ids(data.batch.user_idx) == ["u3", "u0", "u9"]
    assert [train.items.ids(t) for t in data.targets] == [["i0", "i2"], ["i1", "i4"], ["i3"]]


@pytest.mark.parametrize("algorithm", ["popularity", "itemknn", "ease", "ease_mix"])
def test_closed_form_models_are_unchanged_by_a_share(algorithm):
    frame = groups_frame()
    plain = run_protocol(frame, algorithm)
    shared = run_protocol(frame, algorithm, options=TrainOptions(validation_share=0.1))

    assert shared.metrics == plain.metrics
    pd.testing.assert_frame_equal(shared.per_user, plain.per_user)
    assert shared.best_epoch is None


@pytest.mark.parametrize(
    "algorithm", sorted(name for name, cls in ALGORITHMS.items() if cls.trains_in_epochs)
)
def test_every_epoch_model_reports_validation_under_p1_with_a_share(algorithm):
    epochs: list[dict[str, float]] = []
    run_protocol(
        groups_frame(),
        algorithm,
        options=TrainOptions(dry_run=True, validation_share=0.2),
        on_epoch=lambda _, m: epochs.append(m),
    )

    assert epochs
    assert all("val_ndcg_at_10" in m for m in epochs)


@pytest.mark.parametrize("algorithm", sorted(ALGORITHMS))
def test_models_that_train_in_epochs_are_those_with_an_epochs_setting(algorithm):
    model_class = ALGORITHMS[algorithm]
    has_epochs = "epochs" in {f.name for f in dataclasses.fields(model_class.config_class)}

    assert model_class.trains_in_epochs == has_epochs


@pytest.mark.parametrize("share", [0.5, -0.1, 1.0, float("nan")])
def test_train_options_refuse_a_share_out_of_range(share):
    with pytest.raises(ConfigError) as error:
        TrainOptions(validation_share=share)

    assert error.value.field == "validation_share"


def test_serving_options_cap_epochs_at_the_best_epoch_and_drop_validation():
    options = TrainOptions(seed=3, validation_share=0.2)

    assert pipeline.serving_options(options, 7) == TrainOptions(seed=3, max_epochs=7)
    assert pipeline.serving_options(options, None) == TrainOptions(seed=3)


# --- training runs ----------------------------------------------------------------------------


@pytest.fixture
def spied_serving_fit(monkeypatch):
    """Record what the real ``fit_for_serving`` is handed and what it fitted."""
    calls: list[dict] = []
    real = services.training.fit_for_serving

    def spy(frame, algorithm, config, options, *args, **kwargs):
        model, train = real(frame, algorithm, config, options, *args, **kwargs)
        calls.append({"options": options, "model": model})
        return model, train

    monkeypatch.setattr(services.training, "fit_for_serving", spy)
    return calls


@pytest.mark.django_db
def test_a_p1_run_with_a_share_records_validation_curves_and_its_best_epoch(two_taste_catalog):
    run = launch("bpr", config={**LEARNING_BPR, "batch_size": 16}, validation_share=0.2)

    assert run.validation_share == 0.2
    curve = EpochMetric.objects.filter(run=run, name="val_ndcg_at_10")
    assert curve.count() == LEARNING_BPR["epochs"]
    assert 1 <= run.timings["best_epoch"] <= LEARNING_BPR["epochs"]


@pytest.mark.django_db
@pytest.mark.parametrize(("protocol", "share"), [("p1", 0.2), ("p3", 0.0)])
def test_the_serving_fit_trains_the_epochs_early_stopping_chose(
    two_taste_catalog, spied_serving_fit, protocol, share
):
    run = launch("bpr", config=FROZEN_BPR, protocol=protocol, validation_share=share)

    assert run.timings["best_epoch"] == 1
    (serving,) = spied_serving_fit
    assert serving["options"].max_epochs == 1
    assert serving["options"].validation is None
    assert serving["model"].train_result.epochs_run == 1  # not the configured 20
    stopped_at = EpochMetric.objects.filter(run=run, name="val_ndcg_at_10").count()
    assert stopped_at == 1 + FROZEN_BPR["patience"]


@pytest.mark.django_db
def test_without_validation_the_serving_fit_trains_the_configured_epochs(
    two_taste_catalog, spied_serving_fit
):
    run = launch("bpr", config={**FROZEN_BPR, "epochs": 3})

    assert "best_epoch" not in run.timings
    assert spied_serving_fit[0]["options"].max_epochs is None
    assert spied_serving_fit[0]["model"].train_result.epochs_run == 3


@pytest.mark.django_db
def test_a_closed_form_run_is_unchanged_by_a_share(two_taste_catalog):
    plain = launch("itemknn", config={"neighbours": 5})
    shared = launch("itemknn", config={"neighbours": 5}, validation_share=0.1)

    assert shared.metrics == plain.metrics
    assert "best_epoch" not in shared.timings


@pytest.mark.django_db
@pytest.mark.parametrize("share", [0.5, -0.1])
def test_the_service_refuses_a_share_out_of_range(share):
    with pytest.raises(services.TrainingConfigError) as error:
        services.training_run_create(algorithm="bpr", validation_share=share)

    assert error.value.field == "validation_share"
    assert TrainingRun.objects.count() == 0


@pytest.mark.django_db
def test_the_service_refuses_a_share_outside_p1():
    with pytest.raises(services.TrainingConfigError) as error:
        services.training_run_create(algorithm="bpr", protocol="p3", validation_share=0.1)

    assert error.value.field == "validation_share"


@pytest.mark.django_db
@pytest.mark.parametrize("share", ["0.5", "-0.1"])
def test_the_launch_form_shows_a_bad_share_beside_its_field(operator_client, share):
    response = operator_client.post(
        reverse("recommender:run-list"),
        {"algorithm": "bpr", "protocol": "p1", "seed": 1, "validation_share": share},
    )

    assert response.status_code == 200
    errors = response.context["form"].errors
    assert list(errors) == ["validation_share"]
    assert "below 0.5" in errors["validation_share"][0]
    assert TrainingRun.objects.count() == 0


@pytest.mark.django_db
def test_the_launch_form_passes_the_share_on(operator_client, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks():
        response = operator_client.post(
            reverse("recommender:run-list"),
            {"algorithm": "bpr", "protocol": "p1", "seed": 1, "validation_share": "0.15"},
        )

    run = TrainingRun.objects.get()
    assert response.url == reverse("recommender:run-detail", args=[run.pk])
    assert run.validation_share == 0.15
    page = operator_client.get(response.url).content.decode()
    assert "15% of each rater" in page


@pytest.mark.django_db
@pytest.mark.parametrize("share", [0.5, -0.1])
def test_the_api_refuses_a_bad_share_naming_the_field(operator_api, share):
    response = operator_api.post(
        reverse("api-run-list"), {"algorithm": "bpr", "validation_share": share}, format="json"
    )

    assert response.status_code == 400
    assert "validation_share" in response.json()["error"]["details"]
    assert TrainingRun.objects.count() == 0


@pytest.mark.django_db
def test_the_api_takes_and_shows_the_share(operator_api, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks():
        response = operator_api.post(
            reverse("api-run-list"), {"algorithm": "bpr", "validation_share": 0.1}, format="json"
        )

    assert response.status_code == 201, response.json()
    assert response.json()["validation_share"] == 0.1
    assert TrainingRun.objects.get().validation_share == 0.1


@pytest.mark.django_db
@pytest.mark.parametrize("share", ["0.5", "-0.1"])
def test_the_train_command_refuses_a_bad_share_naming_the_field(share):
    with pytest.raises(CommandError, match="validation_share"):
        call_command("train", "bpr", f"--validation-share={share}", stdout=StringIO())

    assert TrainingRun.objects.count() == 0


@pytest.mark.parametrize("share", ["0.5", "-0.1"])
def test_the_evaluate_command_refuses_a_bad_share_naming_the_field(tmp_path, share):
    ratings = tmp_path / "ratings.csv"
    groups_frame()[["user_id", "item_id", "value", "timestamp"]].to_csv(ratings, index=False)

    with pytest.raises(CommandError, match="validation_share"):
        call_command(
            "evaluate", f"--ratings={ratings}", "--algorithm=bpr", f"--validation-share={share}"
        )
