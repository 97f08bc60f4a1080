"""My ratings (edit, remove), password change, log out and delete-my-data in a real browser."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.contrib.sessions.models import Session
from django.urls import reverse

from catalog.models import Interaction, Rater
from recommender.models import RecommendationImpression, RecommendationSnapshot
from tests.browser.end_user_data import active_itemknn_run, genre_catalog, site_user_for_rater

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "dana-pass-phrase-41"
NEW_PASSWORD = "dana-new-phrase-82"


@pytest.fixture(autouse=True)
def fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def dana(page, live_server, log_in) -> Rater:
    """A signed-in site user who is dataset rater comedy-r0 (8 ratings, a precomputed list)."""
    genre_catalog()
    rater = site_user_for_rater("comedy-r0", "dana", PASSWORD)
    active_itemknn_run()
    log_in("dana", PASSWORD)
    page.wait_for_selector("text=Log out")
    return rater


def signed_in_user_ids() -> set[str]:
    return {s.get_decoded().get("_auth_user_id") for s in Session.objects.all()}


def test_my_ratings_edit_and_remove_save_without_a_reload(page, live_server, dana, screenshot):
    page.goto(live_server.url + reverse("catalog:my-ratings"))
    page.evaluate("window.__stillHere = true")
    rows = page.locator("ul.rated > li")
    mine = list(Interaction.objects.filter(rater=dana).order_by("-occurred_at", "-id"))
    assert rows.count() == 8
    assert rows.locator("> a").all_inner_texts() == [i.item.display_title for i in mine]
    edited, removed, dismissed = mine[0], mine[1], mine[2]

    rows.nth(0).locator("button.star[value='2']").click()
    rows.nth(0).locator(".saved:has-text('Saved')").wait_for()
    rows.nth(1).locator("button[data-remove]").click()
    rows.nth(1).locator(".saved:has-text('Removed')").wait_for()
    rows.nth(2).locator("button[data-not-interested]").click()
    rows.nth(2).locator(".saved:has-text('Not interested')").wait_for()
    screenshot("my-ratings-edited")

    assert page.evaluate("window.__stillHere") is True
    assert Interaction.objects.get(pk=edited.pk).value == 2.0
    assert not Interaction.objects.filter(rater=dana, item=removed.item).exists()
    assert Interaction.objects.get(rater=dana, item=dismissed.item).event_type == "not_interested"
    page.reload()
    assert rows.count() == 7
    assert removed.item.display_title not in rows.locator("> a").all_inner_texts()
    edited_row = rows.filter(has_text=edited.item.display_title)
    assert edited_row.locator("button.star.on").count() == 2


def test_change_password_then_log_out_and_back_in(page, live_server, log_in, dana, screenshot):
    page.goto(live_server.url + reverse("catalog:my-ratings"))
    page.click("text=Change password")
    page.fill("#id_old_password", PASSWORD)
    page.fill("#id_new_password1", NEW_PASSWORD)
    page.fill("#id_new_password2", NEW_PASSWORD)
    screenshot("password-change")
    page.click("main button[type=submit]")

    page.wait_for_selector("h1:has-text('Password changed')")
    user = get_user_model().objects.get(username="dana")
    assert user.check_password(NEW_PASSWORD)
    assert str(user.pk) in signed_in_user_ids()  # changing it kept this session signed in
    screenshot("password-changed")

    page.click(".account button:has-text('Log out')")
    page.wait_for_selector(".account a:has-text('Log in')")
    assert str(user.pk) not in signed_in_user_ids()
    page.goto(live_server.url + reverse("recommender:for-you"))
    page.wait_for_selector("h1:has-text('Log in')")
    screenshot("logged-out")

    log_in("dana", PASSWORD)
    page.wait_for_selector(".errorlist")
    log_in("dana", NEW_PASSWORD)
    page.wait_for_selector(".account:has-text('dana')")
    assert str(user.pk) in signed_in_user_ids()


def test_delete_my_data_removes_the_rater_ratings_lists_and_account(
    page, live_server, log_in, dana, screenshot
):
    user_id = dana.user_id
    page.goto(live_server.url + reverse("recommender:for-you"))
    page.wait_for_selector("ol.recs li")
    assert RecommendationSnapshot.objects.filter(rater=dana).count() == 1
    assert RecommendationImpression.objects.filter(rater=dana).count() == 1
    others = RecommendationSnapshot.objects.exclude(rater=dana).count()
    assert others == 29

    page.goto(live_server.url + reverse("catalog:my-ratings"))
    page.click("text=Delete my data")
    page.wait_for_selector("h1:has-text('Delete my data')")
    screenshot("delete-my-data")
    page.click("button:has-text('Delete my ratings and account')")

    page.wait_for_selector("text=Your ratings and your account are deleted.")
    assert page.locator(".account a:has-text('Log in')").count() == 1
    assert not Rater.objects.filter(pk=dana.pk).exists()
    assert not Interaction.objects.filter(rater_id=dana.pk).exists()
    assert not RecommendationSnapshot.objects.filter(rater_id=dana.pk).exists()
    assert not RecommendationImpression.objects.filter(rater_id=dana.pk).exists()
    assert not get_user_model().objects.filter(pk=user_id).exists()
    assert str(user_id) not in signed_in_user_ids()
    assert RecommendationSnapshot.objects.count() == others
    assert Interaction.objects.count() == 29 * 8
    log_in("dana", PASSWORD)
    page.wait_for_selector(".errorlist")


def test_the_rating_api_refuses_a_request_without_the_csrf_token(page, live_server, dana):
    item = Interaction.objects.filter(rater=dana).first().item
    page.goto(live_server.url + reverse("catalog:item-detail", args=[item.pk]))
    put = """([url, headers]) => fetch(url, {method: "PUT", credentials: "same-origin",
        headers: {"Content-Type": "application/json", ...headers},
        body: JSON.stringify({value: 1})}).then(r => r.status)"""
    url = reverse("api-my-rating", args=[item.pk])
    before = Interaction.objects.get(rater=dana, item=item).value

    assert page.evaluate(put, [url, {}]) == 403
    assert Interaction.objects.get(rater=dana, item=item).value == before
    token = next(c["value"] for c in page.context.cookies() if c["name"] == "csrftoken")
    assert page.evaluate(put, [url, {"X-CSRFToken": token}]) == 200
    assert Interaction.objects.get(rater=dana, item=item).value == 1.0
