"""A served list is reused while nothing it came from changed, and never after."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from catalog import freshness
from catalog import services as catalog_services
from catalog.models import Interaction, Item, Rater
from recommender import list_cache, services, serving
from recommender.serving import Filters, recommend_for_rater
from tests.recommender.helpers import launch

pytestmark = pytest.mark.django_db


@pytest.fixture
def served(two_taste_catalog, django_capture_on_commit_callbacks):
    """An active item-kNN run and a rater whose list has been served once (so it is cached)."""
    run = launch("itemknn")
    with django_capture_on_commit_callbacks(execute=True):
        services.training_run_activate(run=run)
    rater = Rater.objects.get(external_id="g0r3")
    first = recommend_for_rater(rater, n=3)
    return rater, first


def ids(result) -> list[str]:  # noqa: ANN001
    return [r.item.external_id for r in result.items]


def test_the_same_request_again_is_served_without_a_query(served):
    rater, first = served

    with CaptureQueriesContext(connection) as queries:
        again = recommend_for_rater(rater, n=3)

    assert len(queries) == 0
    assert ids(again) == ids(first)
    assert [r.reason for r in again.items] == [r.reason for r in first.items]
    assert (again.strategy, again.run_id) == (first.strategy, first.run_id)
    assert again.items[0].item.pk == first.items[0].item.pk
    # Fields the list does not carry still load on access, as with ``.only()``.
    assert again.items[0].item.description == first.items[0].item.description


def test_a_different_request_is_its_own_entry(served):
    rater, first = served

    fewer = recommend_for_rater(rater, n=2)
    filtered = recommend_for_rater(
        rater, n=3, filters=Filters(exclude_items=frozenset({first.items[0].item.pk}))
    )

    assert ids(fewer) == ids(first)[:2]
    assert first.items[0].item.external_id not in ids(filtered)


def test_a_new_rating_retires_the_raters_list_at_once(served):
    rater, first = served
    top = first.items[0].item

    catalog_services.interaction_record(rater=rater, item=top, value=5)
    after = recommend_for_rater(rater, n=3)

    assert top.external_id not in ids(after)
    assert after.strategy == "folded-in"


def test_removing_a_rating_retires_the_list_too(served):
    rater, first = served
    top = first.items[0].item
    catalog_services.my_rating_set(rater=rater, item=top, value=5)
    assert top.external_id not in ids(recommend_for_rater(rater, n=3))

    catalog_services.my_rating_remove(rater=rater, item_id=top.pk)

    assert ids(recommend_for_rater(rater, n=3))[0] == top.external_id


def test_an_item_edit_shows_in_every_cached_list(served):
    rater, first = served
    item = first.items[0].item

    catalog_services.item_update(item=Item.objects.get(pk=item.pk), title="Renamed")

    assert recommend_for_rater(rater, n=3).items[0].item.title == "Renamed"


def test_activating_another_run_retires_every_list(served, django_capture_on_commit_callbacks):
    rater, first = served
    other = launch("popularity")

    with django_capture_on_commit_callbacks(execute=True):
        services.training_run_activate(run=other)

    assert recommend_for_rater(rater, n=3).run_id == other.pk != first.run_id


def test_a_list_computed_while_the_data_changed_is_never_reused(served):
    rater, first = served
    found = list_cache.lookup(rater.external_id, ("some", "request"))
    freshness.mark_rater_changed(
        rater.external_id
    )  # a rating lands while the list is being computed

    list_cache.store(found, rater.pk, ("stale", "", None, []))

    assert list_cache.lookup(rater.external_id, ("some", "request")).payload is None


def test_a_policy_change_reaches_cached_lists(served):
    rater, _ = served
    freshness_before = freshness.current_stamps(rater.external_id)[0]

    serving.policy_changed()

    assert freshness.current_stamps(rater.external_id)[0] != freshness_before


def test_turned_off_every_list_is_computed(served, settings):
    settings.RECSITE_LIST_CACHE_SECONDS = 0
    rater, _ = served

    with CaptureQueriesContext(connection) as queries:
        recommend_for_rater(rater, n=3)

    assert len(queries) > 0


def test_the_api_serves_a_rating_sent_through_the_api_at_once(served):
    rater, first = served
    _, raw = catalog_services.api_key_create(name="shop", scopes=["read", "feedback"])
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {raw}")
    path = reverse("api-rater-recommendations", args=[rater.external_id])
    top = client.get(path, {"k": 3}).json()["results"][0]["external_id"]
    assert top == first.items[0].item.external_id

    posted = client.post(
        reverse("api-events"), {"rater": rater.external_id, "item": top, "value": 5}, format="json"
    )
    assert posted.status_code in (200, 201), posted.content

    assert top not in [r["external_id"] for r in client.get(path, {"k": 3}).json()["results"]]


def test_a_rating_removed_after_the_precompute_comes_back_into_the_list(served):
    rater, first = served
    assert first.strategy == "precomputed"
    rated_before = Item.objects.get(external_id="i0")

    catalog_services.my_rating_remove(rater=rater, item_id=rated_before.pk)
    after = recommend_for_rater(rater, n=3)

    assert after.strategy == "folded-in"  # the precomputed list still counted that rating
    assert "i0" in ids(after)


def test_interactions_imported_with_old_timestamps_retire_the_precomputed_list(served):
    rater, first = served
    top = first.items[0].item
    long_ago = timezone.now() - timedelta(days=365)

    # As an import of historical data would: older than the precomputed list.
    Interaction.objects.create(rater=rater, item=top, value=5, occurred_at=long_ago)
    freshness.mark_all_changed()
    after = recommend_for_rater(rater, n=3)

    assert after.strategy == "folded-in"
    assert top.external_id not in ids(after)


def test_new_attributes_from_the_api_retire_the_raters_lists(served):
    rater, _ = served
    before = freshness.current_stamps(rater.external_id)[1]

    catalog_services.rater_upsert(external_id=rater.external_id, attributes={"age": 30})

    assert freshness.current_stamps(rater.external_id)[1] != before
