"""What was served is recorded once per list, by the "for you" page and the API."""

from __future__ import annotations

import time

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from rest_framework.test import APIClient

from catalog import services as catalog_services
from catalog.models import Item, Rater
from recommender.models import RecommendationImpression
from recommender.services.impressions import impression_record, impressions_flush
from recommender.serving import Recommendation, RecommendationList

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def served_list(items: list[Item], run_id: int | None = None) -> RecommendationList:
    return RecommendationList(
        items=[Recommendation(item=item, score=1.0, reason="") for item in items],
        strategy="popularity",
        explanation="",
        run_id=run_id,
    )


def test_served_lists_wait_for_a_batch_then_go_in_with_one_insert(settings):
    settings.RECSITE_IMPRESSION_BATCH = 3
    settings.RECSITE_IMPRESSION_FLUSH_SECONDS = 3600
    items = [Item.objects.create(external_id=f"x{n}", title=f"X {n}") for n in range(5)]
    raters = [Rater.objects.create(external_id=name) for name in ("ann", "bob", "cy")]

    for rater in raters[:2]:
        impression_record(rater_id=rater.pk, result=served_list(items), surface="api")
    assert not RecommendationImpression.objects.exists()  # waiting for the batch
    with CaptureQueriesContext(connection) as queries:
        impression_record(rater_id=raters[2].pk, result=served_list(items[:2]), surface="page")

    writes = [q["sql"] for q in queries.captured_queries if q["sql"].startswith("INSERT")]
    assert len(writes) == 1
    stored = RecommendationImpression.objects.order_by("pk")
    assert [i.rater.external_id for i in stored] == ["ann", "bob", "cy"]
    assert stored[2].item_ids == [item.pk for item in items[:2]]
    assert (stored[0].surface, stored[0].strategy, stored[0].run_id) == ("api", "popularity", None)


def test_a_flush_skips_lists_of_raters_erased_while_they_waited(settings):
    settings.RECSITE_IMPRESSION_BATCH = 10
    settings.RECSITE_IMPRESSION_FLUSH_SECONDS = 3600
    items = [Item.objects.create(external_id=f"x{n}", title=f"X {n}") for n in range(2)]
    ann, bob = Rater.objects.create(external_id="ann"), Rater.objects.create(external_id="bob")
    impression_record(rater_id=ann.pk, result=served_list(items), surface="page")
    impression_record(rater_id=bob.pk, result=served_list(items), surface="page")

    catalog_services.rater_erase(rater=ann)

    assert impressions_flush() == 1
    assert list(RecommendationImpression.objects.values_list("rater__external_id", flat=True)) == [
        "bob"
    ]


@pytest.mark.django_db(transaction=True)
def test_a_waiting_list_is_written_by_the_timer_when_no_request_follows(settings):
    settings.RECSITE_IMPRESSION_BATCH = 100
    settings.RECSITE_IMPRESSION_FLUSH_SECONDS = 0.05
    items = [Item.objects.create(external_id=f"x{n}", title=f"X {n}") for n in range(2)]
    ann = Rater.objects.create(external_id="ann")

    impression_record(rater_id=ann.pk, result=served_list(items), surface="page")

    deadline = time.monotonic() + 10  # generous: the timer fires after 50 ms
    while not RecommendationImpression.objects.exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert RecommendationImpression.objects.get().rater == ann


def test_an_empty_list_records_nothing():
    rater = Rater.objects.create(external_id="ann")

    impression_record(rater_id=rater.pk, result=served_list([]), surface="page")

    assert impressions_flush() == 0
    assert not RecommendationImpression.objects.exists()


def test_the_api_records_exactly_the_items_it_returned(two_taste_catalog):
    _, raw = catalog_services.api_key_create(name="shop", scopes=["read"])
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {raw}")

    response = client.get(reverse("api-rater-recommendations", args=["g0r1"]), {"k": 3})

    assert response.status_code == 200
    impression = RecommendationImpression.objects.get()
    returned = [row["item_id"] for row in response.json()["results"]]
    assert 1 <= len(returned) <= 3
    assert impression.item_ids == returned
    assert (impression.rater.external_id, impression.surface) == ("g0r1", "api")


def test_the_for_you_page_records_the_list_it_showed(two_taste_catalog, client, end_user):
    rater = catalog_services.rater_for_user(user=end_user)
    catalog_services.interaction_record(
        rater=rater, item=Item.objects.get(external_id="i0"), value=5
    )
    client.force_login(end_user)

    response = client.get(reverse("recommender:for-you"))

    assert response.status_code == 200
    impression = RecommendationImpression.objects.get()
    assert impression.item_ids == [r.item.pk for r in response.context["result"].items]
    assert (impression.rater, impression.surface) == (rater, "page")


def test_erasing_a_rater_removes_their_impressions():
    items = [Item.objects.create(external_id=f"x{n}", title=f"X {n}") for n in range(2)]
    ann, bob = Rater.objects.create(external_id="ann"), Rater.objects.create(external_id="bob")
    impression_record(rater_id=ann.pk, result=served_list(items), surface="page")
    impression_record(rater_id=bob.pk, result=served_list(items), surface="page")

    catalog_services.rater_erase(rater=ann)

    assert list(RecommendationImpression.objects.values_list("rater__external_id", flat=True)) == [
        "bob"
    ]
