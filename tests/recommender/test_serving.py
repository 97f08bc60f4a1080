"""Serving: a known rater's new ratings change their list at once, for every model, and every
item says why it is there."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from catalog import services as catalog_services
from catalog.models import Interaction, Item, Rater
from recommender import services
from recommender.algorithms import ALGORITHMS
from recommender.serving import recommend_for_rater
from tests.recommender.helpers import launch
from tests.recommender.test_cold_start import two_topic_catalog  # noqa: F401 - a fixture

pytestmark = pytest.mark.django_db

#: Implicit models learn only from liked ratings, so a 1-star rating is no vote for an item.
LIKED_ONLY = {"positive_threshold": 4}


@pytest.fixture
def tastes(db):  # noqa: ARG001 - needs the database
    """Two tastes over eight "Alpha" and eight "Beta" items, and a rater who will switch.

    Each of 10 raters per taste gives 5 stars to six items of their own taste (missing two, in
    rotation) and 1 star to four of the other. The switcher liked Alpha 0-2 and gave Beta 0 one
    star. Everything happened a day ago, before any run reads the data.
    """
    alpha = [Item.objects.create(external_id=f"a{n}", title=f"Alpha {n}") for n in range(8)]
    beta = [Item.objects.create(external_id=f"b{n}", title=f"Beta {n}") for n in range(8)]
    then = timezone.now() - timedelta(days=1)
    rows = []
    for name, own, other in (("a", alpha, beta), ("b", beta, alpha)):
        for r in range(10):
            rater = Rater.objects.create(external_id=f"{name}{r}")
            missing = {r % 8, (r + 1) % 8}
            rows += [
                Interaction(rater=rater, item=item, value=5, occurred_at=then)
                for n, item in enumerate(own)
                if n not in missing
            ]
            rows += [
                Interaction(rater=rater, item=other[(r + k) % 8], value=1, occurred_at=then)
                for k in range(4)
            ]
    switcher = Rater.objects.create(external_id="switcher")
    rows += [
        Interaction(rater=switcher, item=item, value=5, occurred_at=then) for item in alpha[:3]
    ]
    rows.append(Interaction(rater=switcher, item=beta[0], value=1, occurred_at=then))
    Interaction.objects.bulk_create(rows)
    return alpha, beta, switcher


def activate(algorithm: str, capture, **kwargs) -> None:  # noqa: ANN001 - pytest-django fixture
    run = launch(algorithm, **kwargs)
    with capture(execute=True):
        services.training_run_activate(run=run)


def switch_to_beta(switcher: Rater, alpha: list[Item], beta: list[Item]) -> None:
    """Five stars for Beta 1-5 and one star for Alpha 3-4, now."""
    for item in beta[1:6]:
        catalog_services.interaction_record(rater=switcher, item=item, value=5)
    for item in alpha[3:5]:
        catalog_services.interaction_record(rater=switcher, item=item, value=1)


def titles(result) -> list[str]:  # noqa: ANN001
    return [rec.item.title for rec in result.items]


@pytest.mark.parametrize("algorithm", ["bpr", "ncf", "lightgcn", "biased_mf"])
def test_a_known_raters_new_ratings_turn_their_list_at_once(
    algorithm, tastes, django_capture_on_commit_callbacks
):
    alpha, beta, switcher = tastes
    signal = None if ALGORITHMS[algorithm].predicts_ratings else LIKED_ONLY
    config = ALGORITHMS[algorithm].contract_config
    activate(algorithm, django_capture_on_commit_callbacks, config=config, signal=signal)
    before = recommend_for_rater(switcher, n=2)
    assert before.strategy == "precomputed"
    assert all(title.startswith("Alpha") for title in titles(before))

    switch_to_beta(switcher, alpha, beta)
    after = recommend_for_rater(switcher, n=2)

    # Unrated now: Alpha 5-7 and Beta 6-7. Stored user factors would still rank Alpha first.
    assert after.strategy == "folded-in"
    top = after.items[0]
    assert top.item.title in ("Beta 6", "Beta 7")
    assert top.reason.startswith("Because you rated “Beta "), top.reason
    # One-star ratings (Beta 0, Alpha 3-4) are rated but never a reason.
    for rec in after.items:
        named = {part.split("”")[0] for part in rec.reason.split("“")[1:]}
        assert named, rec.reason
        assert not named & {"Beta 0", "Alpha 3", "Alpha 4"}, rec.reason


def test_the_reason_names_the_liked_items_that_point_to_the_item(
    tastes, django_capture_on_commit_callbacks
):
    alpha, beta, switcher = tastes
    activate("itemknn", django_capture_on_commit_callbacks, signal=LIKED_ONLY)
    catalog_services.interaction_record(rater=switcher, item=beta[1], value=5)

    result = recommend_for_rater(switcher, n=16)

    reasons = {rec.item.title: rec.reason for rec in result.items}
    # Likes never cross tastes here, so Beta 1 alone points to the other Beta items; the
    # 1-star Beta 0 is rated too but is never a reason.
    assert {reasons[f"Beta {n}"] for n in range(2, 8)} == {"Because you rated “Beta 1”"}
    for n in range(3, 8):
        assert reasons[f"Alpha {n}"].startswith("Because you rated “Alpha "), reasons
        assert "Beta" not in reasons[f"Alpha {n}"]


def test_a_precomputed_list_carries_the_same_kind_of_reason(
    tastes, django_capture_on_commit_callbacks
):
    _, _, switcher = tastes
    activate("itemknn", django_capture_on_commit_callbacks, signal=LIKED_ONLY)

    result = recommend_for_rater(switcher, n=3)

    assert result.strategy == "precomputed"
    # Alpha 0-2 are the liked items; ties in similarity go to the earlier item.
    assert all(title.startswith("Alpha") for title in titles(result))
    for rec in result.items:
        assert rec.reason.startswith("Because you rated “Alpha "), rec.reason
        assert rec.reason.count("“") == 2


def test_without_a_model_a_rater_gets_what_raters_like_them_chose(tastes):
    alpha, _, _ = tastes
    newcomer = Rater.objects.create(external_id="newcomer")
    catalog_services.interaction_record(rater=newcomer, item=alpha[0], value=5)

    result = recommend_for_rater(newcomer, n=3)

    assert result.strategy == "popularity"
    assert result.explanation == (
        "No model is active yet: popular among raters who rated what you rated."
    )
    # Alpha 0's raters are the Alpha raters (and the switcher): Alpha items lead.
    assert all(title.startswith("Alpha") for title in titles(result))
    assert [rec.reason for rec in result.items] == ["Popular among raters like you"] * 3


def test_a_rater_with_no_history_gets_plain_popularity(tastes):
    stranger = Rater.objects.create(external_id="stranger")

    result = recommend_for_rater(stranger, n=1)

    count = Interaction.objects.filter(item=result.items[0].item).count()
    assert result.strategy == "popularity"
    assert result.items[0].reason == f"Popular: {count} raters"


def test_ratings_made_between_training_and_activation_are_in_the_precomputed_list(
    tastes, django_capture_on_commit_callbacks
):
    alpha, beta, switcher = tastes
    run = launch("bpr", config=ALGORITHMS["bpr"].contract_config, signal=LIKED_ONLY)
    switch_to_beta(switcher, alpha, beta)
    with django_capture_on_commit_callbacks(execute=True):
        services.training_run_activate(run=run)

    result = recommend_for_rater(switcher, n=1)

    assert result.strategy == "precomputed"
    assert result.items[0].item.title in ("Beta 6", "Beta 7")


def test_a_new_rater_with_attributes_gets_what_raters_like_them_chose(two_topic_catalog):  # noqa: F811
    run = launch("side_features", config=ALGORITHMS["side_features"].contract_config)
    stranger = Rater.objects.create(external_id="new", attributes={"gender": "M"})

    result = recommend_for_rater(stranger, n=4)

    assert result.strategy == "popularity"
    assert result.explanation == (
        f"No ratings yet: popular among raters with attributes like yours "
        f"(run {run.pk}, side_features)."
    )
    assert all(title.startswith("Love romance") for title in titles(result))
    assert [rec.reason for rec in result.items] == ["Popular among raters like you"] * 4


@pytest.mark.parametrize("algorithm", ["bpr", "sasrec"])
def test_reasons_cost_the_same_queries_for_a_short_or_a_long_list(
    algorithm, tastes, django_capture_on_commit_callbacks, settings
):
    settings.RECSITE_LIST_CACHE_SECONDS = 0  # count the queries of computing the list
    alpha, beta, switcher = tastes
    activate(
        algorithm, django_capture_on_commit_callbacks, config=ALGORITHMS[algorithm].contract_config
    )
    switch_to_beta(switcher, alpha, beta)
    recommend_for_rater(switcher, n=1)  # loads the model and caches the serving policy

    counts = []
    for n in (1, 5):
        with CaptureQueriesContext(connection) as queries:
            result = recommend_for_rater(switcher, n=n)
        counts.append(len(queries))
        assert len(result.items) == n
        assert all(rec.reason.startswith("Because you rated") for rec in result.items)

    # sasrec has no item relation of its own: one co-occurrence query per list, not per item.
    assert counts[0] == counts[1]


def test_a_popularity_model_says_so(tastes, django_capture_on_commit_callbacks):
    _, _, switcher = tastes
    activate("popularity", django_capture_on_commit_callbacks)

    result = recommend_for_rater(switcher, n=2)

    assert [rec.reason for rec in result.items] == ["Popular with raters overall"] * 2
