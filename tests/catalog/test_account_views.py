"""End users: sign up, rate, see their ratings, delete their data."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse
from django.utils import timezone

from catalog.models import Interaction, Item, Rater

pytestmark = pytest.mark.django_db


def test_sign_up_logs_in_and_goes_to_onboarding(client):
    response = client.post(
        reverse("catalog:signup"),
        {
            "username": "newbie",
            "password1": "a-long-pass-phrase-9",
            "password2": "a-long-pass-phrase-9",
        },
    )

    assert response.url == reverse("recommender:onboarding")
    assert get_user_model().objects.filter(username="newbie").exists()
    assert client.get(reverse("catalog:my-ratings")).status_code == 200


def test_rating_saves_through_the_api_and_replaces(end_user_client):
    item = Item.objects.create(external_id="i1", title="Heat")
    url = reverse("api-my-rating", args=[item.pk])

    first = end_user_client.put(url, {"value": 4}, content_type="application/json")
    second = end_user_client.put(url, {"value": 2}, content_type="application/json")

    assert (first.status_code, second.status_code) == (200, 200)
    assert list(Interaction.objects.values_list("value", "source")) == [(2.0, "site")]


def test_rating_outside_the_scale_is_refused(end_user_client):
    item = Item.objects.create(external_id="i1")

    response = end_user_client.put(
        reverse("api-my-rating", args=[item.pk]), {"value": 9}, content_type="application/json"
    )

    assert response.status_code == 400
    assert Interaction.objects.count() == 0


def test_rating_form_works_without_javascript_and_remove_deletes(end_user_client):
    item = Item.objects.create(external_id="i1")
    url = reverse("catalog:item-rate", args=[item.pk])

    end_user_client.post(url, {"value": "5"})
    assert Interaction.objects.get().value == 5.0
    end_user_client.post(url, {"not_interested": "1"})
    assert list(Interaction.objects.values_list("event_type", "value")) == [("not_interested", 1)]
    end_user_client.post(url, {"remove": "1"})
    assert Interaction.objects.count() == 0


def test_the_widget_keeps_one_answer_stars_or_not_interested(end_user_client):
    item = Item.objects.create(external_id="i1", title="Heat")
    url = reverse("api-my-rating", args=[item.pk])

    end_user_client.put(url, {"value": 4}, content_type="application/json")
    end_user_client.put(
        url, {"value": 1, "event_type": "not_interested"}, content_type="application/json"
    )
    assert list(Interaction.objects.values_list("event_type", "value")) == [("not_interested", 1)]
    end_user_client.put(url, {"value": 3}, content_type="application/json")
    assert list(Interaction.objects.values_list("event_type", "value", "source")) == [
        ("rating", 3, "site")
    ]


def test_the_widget_leaves_other_event_types_alone(end_user_client, end_user):
    item = Item.objects.create(external_id="i1", title="Heat")
    rater = Rater.objects.create(user=end_user, external_id=f"site:{end_user.pk}")
    Interaction.objects.create(
        rater=rater, item=item, event_type="view", value=1, occurred_at=timezone.now()
    )

    end_user_client.put(
        reverse("api-my-rating", args=[item.pk]), {"value": 5}, content_type="application/json"
    )

    assert sorted(Interaction.objects.values_list("event_type", "value")) == [
        ("rating", 5),
        ("view", 1),
    ]


def test_anonymous_visitors_cannot_rate(client):
    item = Item.objects.create(external_id="i1")

    response = client.put(
        reverse("api-my-rating", args=[item.pk]), {"value": 4}, content_type="application/json"
    )

    assert response.status_code == 401
    assert Interaction.objects.count() == 0


def test_delete_my_data_removes_ratings_rater_and_account(end_user_client, end_user):
    item = Item.objects.create(external_id="i1")
    end_user_client.put(
        reverse("api-my-rating", args=[item.pk]), {"value": 4}, content_type="application/json"
    )

    response = end_user_client.post(reverse("catalog:delete-my-data"))

    assert response.status_code == 302
    assert Interaction.objects.count() == 0
    assert Rater.objects.count() == 0
    assert not get_user_model().objects.filter(pk=end_user.pk).exists()


def test_item_pages_show_the_widget_to_signed_in_users(client, end_user):
    item = Item.objects.create(external_id="i1", title="Heat", genres=["Action"])
    url = reverse("catalog:item-detail", args=[item.pk])

    assert b"data-rate-url" not in client.get(url).content
    client.force_login(end_user)
    assert b"data-rate-url" in client.get(url).content


def test_genre_filter(client):
    Item.objects.create(external_id="1", title="Heat", genres=["Action"])
    Item.objects.create(external_id="2", title="Amélie", genres=["Comedy", "Romance"])

    response = client.get(reverse("catalog:item-list"), {"genre": "Romance"})

    assert [i.title for i in response.context["page"].object_list] == ["Amélie"]
    assert response.context["genres"] == ["Action", "Comedy", "Romance"]


def test_operators_create_a_key_shown_once_and_revoke_it(operator_client, end_user):
    from catalog.models import ApiKey

    page = operator_client.post(
        reverse("catalog:api-key-list"), {"name": "shop", "scopes": ["read", "feedback"]}
    )
    key = ApiKey.objects.get()
    raw = page.context["new_key"]

    assert raw.startswith(f"rs_{key.prefix}_")
    assert raw.encode() not in operator_client.get(reverse("catalog:api-key-list")).content
    operator_client.post(reverse("catalog:api-key-revoke", args=[key.pk]))
    assert not ApiKey.objects.get().is_active

    operator_client.force_login(end_user)
    assert operator_client.get(reverse("catalog:api-key-list")).status_code == 403


def test_operators_set_the_serving_policy(operator_client):
    from recommender.models import ServingPolicy

    response = operator_client.post(
        reverse("recommender:serving-policy"),
        {
            "diversity": "0.3",
            "retrain_every_hours": "24",
            "retrain_after_interactions": "100",
            "retrain_algorithm": "ease",
            "retrain_config": "{}",
            "gate_metric": "ndcg_at_10",
        },
    )

    assert response.status_code == 302
    policy = ServingPolicy.current()
    assert (policy.diversity, policy.retrain_every_hours) == (0.3, 24)
    bad = operator_client.post(
        reverse("recommender:serving-policy"),
        {
            "diversity": "3",
            "retrain_every_hours": "-1",
            "retrain_after_interactions": "0",
            "retrain_algorithm": "ease",
            "retrain_config": "{}",
            "gate_metric": "ndcg_at_10",
        },
    )
    assert set(bad.context["form"].errors) == {"diversity", "retrain_every_hours"}


def test_my_ratings_pages_through_a_long_history_newest_first(end_user_client, end_user):
    rater = Rater.objects.create(user=end_user)
    now = timezone.now()
    items = Item.objects.bulk_create(
        Item(external_id=f"i{n}", title=f"Film {n:02d}") for n in range(55)
    )
    Interaction.objects.bulk_create(
        Interaction(
            rater=rater, item=item, value=4, occurred_at=now - timezone.timedelta(minutes=n)
        )
        for n, item in enumerate(items)
    )

    first = end_user_client.get(reverse("catalog:my-ratings"))
    second = end_user_client.get(reverse("catalog:my-ratings") + "?page=2")

    assert [i.item.title for i in first.context["interactions"]][:2] == ["Film 00", "Film 01"]
    assert len(first.context["interactions"]) == 50
    assert [i.item.title for i in second.context["interactions"]] == [
        f"Film {n}" for n in range(50, 55)
    ]
    assert "Page 1 of 2" in first.content.decode()
