"""Cold start in serving: attribute and content models answer where the active model cannot."""

from __future__ import annotations

import pytest
from django.utils import timezone

from catalog.models import Interaction, Item, Rater
from catalog.selectors import rater_attributes_frame
from recommender import cold_start, inspection, services, serving
from recommender.algorithms import ALGORITHMS
from tests.recommender.helpers import launch

TOPICS = (("Space robots galaxy", "Sci-Fi", "F"), ("Love romance wedding", "Romance", "M"))


@pytest.fixture
def two_topic_catalog(db):  # noqa: ARG001 - needs the database
    """Two topics of 8 items, each read by 12 raters of one gender who rated all but one item.

    Titles and genres tell the topics apart, and so does the raters' gender attribute.
    """
    items = [
        Item.objects.create(
            external_id=f"{group}-{n}", title=f"{TOPICS[group][0]} {n}", genres=[TOPICS[group][1]]
        )
        for group in range(2)
        for n in range(8)
    ]
    now, rows = timezone.now(), []
    for group in range(2):
        for r in range(12):
            rater = Rater.objects.create(
                external_id=f"g{group}r{r}", attributes={"gender": TOPICS[group][2]}
            )
            rows += [
                Interaction(rater=rater, item=items[group * 8 + n], value=5, occurred_at=now)
                for n in range(8)
                if n != r % 8
            ]
    Interaction.objects.bulk_create(rows)
    return items


def contract(algorithm: str) -> dict:
    return dict(ALGORITHMS[algorithm].contract_config)


def new_item(group: int) -> Item:
    title, genre, _ = TOPICS[group]
    return Item.objects.create(external_id=f"new-{group}", title=f"{title} X", genres=[genre])


def test_a_new_rater_with_attributes_gets_the_attribute_models_list(two_topic_catalog):
    run = launch("side_features", config=contract("side_features"))
    stranger = Rater.objects.create(external_id="new", attributes={"gender": "M"})

    found = cold_start.for_new_rater(stranger, 8)

    assert found is not None
    assert found.run == run
    titles = [Item.objects.get(pk=pk).title for pk, _ in found.pairs]
    assert all(title.startswith("Love romance") for title in titles)


def test_no_attribute_model_or_no_attributes_means_no_attribute_list(two_topic_catalog):
    stranger = Rater.objects.create(external_id="new", attributes={"gender": "M"})
    assert cold_start.for_new_rater(stranger, 8) is None

    launch("side_features", config=contract("side_features"))
    assert cold_start.for_new_rater(Rater.objects.create(external_id="bare"), 8) is None


def test_new_items_enter_the_lists_of_raters_whose_taste_they_match(two_topic_catalog):
    active = launch("itemknn")
    launch("text_cnn", config=contract("text_cnn"))
    space, romance = new_item(0), new_item(1)
    fan = Rater.objects.get(external_id="g0r3")
    # The fan's one unrated space item, then romance items: what the active model would list.
    listed = [two_topic_catalog[3], *two_topic_catalog[8:12]]
    pairs = [(item.pk, 1.0 - n / 10) for n, item in enumerate(listed)]

    merged, placed = cold_start.with_new_items(pairs, fan, active, exclude=set())

    assert placed == {space.pk}
    assert [pk for pk, _ in merged] == [
        *(pk for pk, _ in pairs[:2]),
        space.pk,
        pairs[2][0],
        pairs[3][0],
    ]
    assert romance.pk not in {pk for pk, _ in merged}
    assert [score for _, score in merged] == sorted((score for _, score in merged), reverse=True)


def test_without_a_content_model_the_list_is_unchanged(two_topic_catalog):
    active = launch("itemknn")
    new_item(0)
    fan = Rater.objects.get(external_id="g0r3")
    pairs = [(two_topic_catalog[0].pk, 1.0)]

    assert cold_start.with_new_items(pairs, fan, active, exclude=set()) == (pairs, set())


def test_a_new_items_similar_items_come_from_its_content(two_topic_catalog):
    launch("text_cnn", config=contract("text_cnn"))
    romance = new_item(1)

    found = cold_start.similar_by_content(romance, 5)

    assert found is not None
    titles = [Item.objects.get(pk=pk).title for pk, _ in found.pairs]
    assert len(titles) == 5
    assert all(title.startswith("Love romance") for title in titles)


def test_a_served_list_carries_a_matching_new_item_with_its_reason(two_topic_catalog):
    services.training_run_activate(run=launch("itemknn"))
    launch("text_cnn", config=contract("text_cnn"))
    space, romance = new_item(0), new_item(1)
    fan = Rater.objects.get(external_id="g0r3")

    served = serving.recommend_for_rater(fan, n=5)

    reasons = {rec.item.pk: rec.reason for rec in served.items}
    assert reasons.get(space.pk) == serving.NEW_ITEM_REASON
    assert romance.pk not in reasons
    assert "placed by their content" in served.explanation


def test_similar_items_of_a_new_item_come_from_the_content_model(two_topic_catalog):
    active = services.training_run_activate(run=launch("itemknn"))
    content = launch("text_cnn", config=contract("text_cnn"))
    space = new_item(0)

    similar = inspection.similar_items(active, space, n=4)

    assert similar.strategy == "content"
    assert all(rec.item.title.startswith("Space robots") for rec in similar.items)
    assert similar.items[0].reason == f"Similar title and genres ({content.algorithm})"


def test_rater_attributes_keep_scalars_and_read_numbers_as_numbers(db):  # noqa: ARG001
    Rater.objects.create(external_id="a", attributes={"age": "31", "tags": ["x", "y"]})
    Rater.objects.create(external_id="b", attributes={"age": 40, "gender": "F", "tags": {"k": 1}})
    Rater.objects.create(external_id="c")

    frame = rater_attributes_frame()

    assert sorted(frame.index) == sorted(
        str(pk) for pk in Rater.objects.exclude(external_id="c").values_list("pk", flat=True)
    )
    assert frame["age"].tolist() == [31, 40]
    assert frame["tags"].isna().all()
    assert frame["gender"].tolist()[1] == "F"
