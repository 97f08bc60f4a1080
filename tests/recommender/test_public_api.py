"""Other applications: API keys with scopes, recommendations, feedback, similar items, erasure."""

from __future__ import annotations

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from catalog import services
from catalog.models import ApiKey, Interaction, Item, Rater
from recommender import services as recommender_services

pytestmark = pytest.mark.django_db


def key_client(*scopes: str) -> tuple[APIClient, ApiKey]:
    key, raw = services.api_key_create(name="shop", scopes=list(scopes))
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {raw}")
    return client, key


def test_only_the_hash_of_a_key_is_stored():
    key, raw = services.api_key_create(name="shop", scopes=["read"])

    assert raw not in (key.key_hash, key.prefix)
    assert services.api_key_authenticate(raw=raw) == key
    assert services.api_key_authenticate(raw=raw + "x") is None


def test_a_key_reaches_only_its_scopes(two_taste_catalog):
    reader, _ = key_client("read")

    assert reader.get(reverse("api-rater-recommendations", args=["g0r1"])).status_code == 200
    assert (
        reader.post(
            reverse("api-events"), {"rater": "g0r1", "item": "i1", "value": 3}, format="json"
        ).status_code
        == 403
    )
    assert reader.get(reverse("api-run-list")).status_code == 403


def test_a_revoked_key_is_refused(two_taste_catalog):
    client, key = key_client("read")

    services.api_key_revoke(key=key)

    response = client.get(reverse("api-rater-recommendations", args=["g0r1"]))
    assert response.status_code == 401
    assert response.json()["error"]["message"] == "Invalid or revoked API key."


@pytest.fixture
def active_itemknn(two_taste_catalog, django_capture_on_commit_callbacks):
    """An active item-kNN run whose top item for rater g1r4 is i12."""
    run = recommender_services.training_run_create(algorithm="itemknn", enqueue=False)
    recommender_services.training_run_execute(run_id=run.pk)
    run.refresh_from_db()
    with django_capture_on_commit_callbacks(execute=True):
        recommender_services.training_run_activate(run=run)
    return run


def test_feedback_then_recommendations_reflect_it_at_once(active_itemknn):
    client, _ = key_client("read", "feedback")
    url = reverse("api-rater-recommendations", args=["g1r4"])
    assert client.get(url, {"k": 1}).json()["results"][0]["external_id"] == "i12"

    posted = client.post(
        reverse("api-events"), {"rater": "g1r4", "item": "i12", "value": 5}, format="json"
    )

    assert posted.status_code == 201
    after = client.get(url, {"k": 3}).json()
    assert after["strategy"] == "folded-in"
    assert "i12" not in [r["external_id"] for r in after["results"]]


def test_a_batch_of_events_is_all_or_nothing(two_taste_catalog):
    client, _ = key_client("feedback")
    before = Interaction.objects.count()

    response = client.post(
        reverse("api-events"),
        {
            "events": [
                {"rater": "new-user", "item": "i1", "event_type": "click"},
                {"rater": "new-user", "item": "no-such-item", "event_type": "view"},
            ]
        },
        format="json",
    )

    assert response.status_code == 400
    assert "events[1].item" in response.json()["error"]["details"]
    assert Interaction.objects.count() == before
    assert not Rater.objects.filter(external_id="new-user").exists()


def test_a_batch_creates_new_raters_and_records_every_event(two_taste_catalog):
    client, _ = key_client("feedback")

    response = client.post(
        reverse("api-events"),
        {
            "events": [
                {"rater": "new-user", "item": "i1", "event_type": "click"},
                {"rater": "new-user", "item": "i2", "event_type": "rating", "value": 4.5},
            ]
        },
        format="json",
    )

    assert response.json() == {"recorded": 2}
    assert set(
        Interaction.objects.filter(rater__external_id="new-user").values_list("event_type", "value")
    ) == {("click", 1.0), ("rating", 4.5)}


def test_recommendations_honour_exclusions_and_categories(two_taste_catalog):
    Item.objects.filter(external_id__in=["i8", "i9", "i10"]).update(genres=["Drama"])
    client, _ = key_client("read")

    response = client.get(reverse("api-rater-recommendations", args=["newbie"]))
    assert response.status_code == 404

    Rater.objects.create(external_id="newbie")
    data = client.get(
        reverse("api-rater-recommendations", args=["newbie"]),
        {"k": 5, "include_categories": "Drama", "exclude_items": "i9"},
    ).json()
    assert [r["external_id"] for r in data["results"]] == ["i8", "i10"]  # popular first


def test_manage_scope_creates_items_and_erases_raters(two_taste_catalog):
    client, _ = key_client("manage")

    created = client.post(
        reverse("api-item-create"),
        {"external_id": "new", "title": "New", "genres": ["Comedy"]},
        format="json",
    )
    erased = client.delete(reverse("api-rater-detail", args=["g0r1"]))

    assert created.status_code == 201
    assert Item.objects.get(external_id="new").genres == ["Comedy"]
    assert erased.status_code == 204
    assert not Rater.objects.filter(external_id="g0r1").exists()
    assert not Interaction.objects.filter(rater__external_id="g0r1").exists()


def test_similar_items_come_from_the_active_model(
    two_taste_catalog, django_capture_on_commit_callbacks
):
    run = recommender_services.training_run_create(algorithm="itemknn", enqueue=False)
    recommender_services.training_run_execute(run_id=run.pk)
    run.refresh_from_db()
    with django_capture_on_commit_callbacks(execute=True):
        recommender_services.training_run_activate(run=run)
    client, _ = key_client("read")
    item = Item.objects.get(external_id="i2")

    data = client.get(reverse("api-similar-items", args=[item.pk]), {"k": 3}).json()

    assert len(data["results"]) == 3
    assert all(int(r["external_id"][1:]) < 8 for r in data["results"])  # same taste group


def test_an_item_marked_not_interested_leaves_the_list_at_once(active_itemknn):
    client, _ = key_client("read", "feedback")
    url = reverse("api-rater-recommendations", args=["g1r4"])
    assert client.get(url, {"k": 1}).json()["results"][0]["external_id"] == "i12"

    # when the rater says "not interested" (an event the model's signal does not count)
    posted = client.post(
        reverse("api-events"),
        {"rater": "g1r4", "item": "i12", "event_type": "not_interested", "value": 1},
        format="json",
    )

    # then the item is gone from the next list, which is still personal
    assert posted.status_code == 201
    after = client.get(url, {"k": 5}).json()
    assert after["strategy"] == "folded-in"
    assert "i12" not in [r["external_id"] for r in after["results"]]
    assert len(after["results"]) == 5
