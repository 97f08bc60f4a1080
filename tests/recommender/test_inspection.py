"""Lists with reasons from any run, what-if scoring and per-model similar items."""

from __future__ import annotations

import pytest

from catalog.models import Interaction, Item, Rater
from recommender import inspection, services, serving
from tests.recommender.helpers import launch

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fast_passwords(settings):
    """Cheap password hashing for the people fixtures (the default costs ~1 s per user)."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


GROUP_0 = {f"Item {n}" for n in range(8)}


def titles(items) -> list[str]:
    return [rec.item.title for rec in items]


def test_a_raters_list_says_which_of_their_ratings_led_to_each_item(two_taste_catalog):
    run = launch("itemknn")
    rater = Rater.objects.get(external_id="g0r1")  # has rated group 0 except item 1

    result = inspection.rater_recommendations(rater, run, n=3)

    first = result.items[0]
    assert first.item.title == "Item 1"
    assert first.reason.startswith("Because you rated “Item ")
    named = {part.split("”")[0] for part in first.reason.split("“")[1:]}
    assert len(named) == 2
    assert named <= GROUP_0 - {"Item 1"}
    assert result.run == run


def test_items_no_rating_points_to_are_called_fillers(two_taste_catalog):
    run = launch("itemknn")
    rater = Rater.objects.get(external_id="g0r1")

    result = inspection.rater_recommendations(rater, run, n=3)

    assert [rec.score for rec in result.items[1:]] == [0.0, 0.0]
    assert {rec.reason for rec in result.items[1:]} == {
        "Popular pick: nothing you rated points to it yet"
    }


def test_the_operator_sees_the_list_and_reasons_the_rater_is_served(two_taste_catalog):
    run = services.training_run_activate(run=launch("itemknn"))
    rater = Rater.objects.get(external_id="g0r1")

    inspected = inspection.rater_recommendations(rater, run, n=5)
    served = serving.recommend_for_rater(rater, 5)

    assert [(r.item.pk, r.reason) for r in inspected.items] == [
        (r.item.pk, r.reason) for r in served.items
    ]


def test_a_popularity_list_gives_popularity_as_its_reason(two_taste_catalog):
    run = launch("popularity")
    rater = Rater.objects.get(external_id="g0r1")

    result = inspection.rater_recommendations(rater, run, n=2)

    assert {rec.reason for rec in result.items} == {"Popular with raters overall"}


def test_any_run_can_be_inspected_beside_the_active_one(two_taste_catalog, operator):
    active, other = launch("popularity"), launch("itemknn")
    services.training_run_activate(run=active, activated_by=operator)
    rater = Rater.objects.get(external_id="g1r2")

    mine = inspection.rater_recommendations(rater, other, n=1)

    assert mine.run == other
    assert titles(mine.items) == ["Item 10"]


def test_what_if_history_is_scored_on_the_fly(two_taste_catalog):
    run = launch("itemknn")
    group_1 = {item.title: item.pk for item in Item.objects.filter(external_id__in=["i8", "i9"])}
    history = [(pk, 5.0) for pk in group_1.values()]

    result = inspection.history_recommendations(history, run, n=6)

    assert set(titles(result.items)) == {f"Item {n}" for n in range(10, 16)}
    assert all(rec.reason.startswith("Because you rated") for rec in result.items)
    assert "from 2 ratings (2 known to the model)" in result.explanation
    assert Interaction.objects.count() == 168  # nothing was written


def test_what_if_without_ratings_or_model_says_what_to_do(two_taste_catalog):
    run = launch("itemknn")

    assert inspection.history_recommendations([], run).items == []
    assert "Add ratings" in inspection.history_recommendations([], run).explanation
    assert (
        "activate or pick a run" in inspection.history_recommendations([(1, 4)], None).explanation
    )


def test_similar_items_come_from_the_models_item_item_view(two_taste_catalog):
    run = launch("itemknn")
    item = Item.objects.get(external_id="i3")

    result = inspection.similar_items(run, item, n=5)

    assert result.strategy == "model"
    assert set(titles(result.items)) <= GROUP_0 - {"Item 3"}
    assert len(result.items) == 5
    assert "Item-item similarity of itemknn" in result.explanation


def test_similar_items_fall_back_to_cooccurrence_without_an_item_view(two_taste_catalog):
    run = launch("popularity")
    item = Item.objects.get(external_id="i3")

    result = inspection.similar_items(run, item, n=3)

    assert result.strategy == "co-occurrence"
    assert set(titles(result.items)) <= GROUP_0
    assert inspection.similar_items(None, item, n=3).strategy == "co-occurrence"


def test_cooccurrence_is_the_cosine_of_rater_sets():
    items = [Item.objects.create(external_id=f"c{n}") for n in range(3)]
    for r in range(4):
        rater = Rater.objects.create(external_id=f"cr{r}")
        rated = [0, 1] if r < 2 else [0, 2] if r == 2 else [2]
        for n in rated:
            Interaction.objects.create(
                rater=rater, item=items[n], value=1, occurred_at="2026-01-01T00:00Z"
            )

    pairs = inspection.cooccurring_items(items[0], n=5)

    # item 0: raters {0,1,2}; item 1: {0,1} → 2/sqrt(6); item 2: {2,3} → 1/sqrt(6)
    assert [pk for pk, _ in pairs] == [items[1].pk, items[2].pk]
    assert [round(s, 4) for _, s in pairs] == [round(2 / 6**0.5, 4), round(1 / 6**0.5, 4)]
