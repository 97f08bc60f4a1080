"""A new person signs up, is onboarded, rates items and sees "for you" change at once."""

from __future__ import annotations

import pytest
from django.urls import reverse

from catalog import selectors
from catalog.models import Interaction
from recommender import services
from tests.browser.end_user_data import GENRES, active_itemknn_run, genre_catalog

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_sign_up_onboard_rate_and_see_the_list_change(
    page, live_server, two_taste_catalog, screenshot
):
    run = services.training_run_create(algorithm="itemknn", enqueue=False)
    services.training_run_execute(run_id=run.pk)
    run.refresh_from_db()
    services.training_run_activate(run=run)

    page.goto(live_server.url + reverse("catalog:signup"))
    page.fill("#id_username", "newbie")
    page.fill("#id_password1", "a-long-pass-phrase-9")
    page.fill("#id_password2", "a-long-pass-phrase-9")
    screenshot("signup")
    page.click("button[type=submit]")

    page.wait_for_selector("h1:has-text('Rate a few')")
    first = page.locator(".onboarding li").first
    first.locator("button.star[value='5']").click()
    page.wait_for_selector(".onboarding li .saved:has-text('Saved')")
    screenshot("onboarding")
    rated_title = first.locator("strong").inner_text()
    page.click("#see-my-list")

    page.wait_for_selector("ol.recs li")
    before = page.locator("ol.recs li").first.get_attribute("data-item")
    assert rated_title not in recommended(page)  # (reasons may name it: "Because you rated …")
    screenshot("for-you")
    page.locator("ol.recs li").first.locator("button.star[value='4']").click()
    page.wait_for_selector("ol.recs li .saved:has-text('Saved')")
    page.reload()

    after_items = page.locator("ol.recs li").evaluate_all("els => els.map(e => e.dataset.item)")
    assert before not in after_items
    assert page.get_attribute("#strategy", "data-strategy") == "folded-in"
    assert Interaction.objects.filter(rater__user__username="newbie").count() == 2


def recommended(page) -> list[str]:
    """Titles on the "for you" list, best first (entries dismissed on the page are skipped)."""
    return page.locator("ol.recs > li:visible > a").all_inner_texts()


def test_the_whole_story_in_a_genre_catalog(page, live_server, screenshot):
    """Sign up, rate the onboarding picks, see a list, rate from an item page, dismiss one."""
    genre_catalog()
    active_itemknn_run()
    page.goto(live_server.url + reverse("catalog:signup"))
    page.fill("#id_username", "nina")
    page.fill("#id_password1", "a-long-pass-phrase-9")
    page.fill("#id_password2", "a-long-pass-phrase-9")
    page.click("main button[type=submit]")

    page.wait_for_selector("h1:has-text('Rate a few')")
    page.evaluate("window.__stillHere = true")
    offered = page.locator(".onboarding li")
    picks = selectors.onboarding_items(n=12)
    assert offered.locator("strong").all_inner_texts() == [i.display_title for i in picks]
    assert {g for item in picks for g in item.genres} == set(GENRES)
    dramas = offered.filter(has_text="Drama")
    assert dramas.count() >= 3
    liked = []
    for n in range(3):
        entry = dramas.nth(n)
        assert not entry.locator("button[data-remove]").is_visible()  # nothing to remove yet
        entry.locator("button.star[value='5']").click()
        entry.locator(".saved:has-text('Saved')").wait_for()
        assert entry.locator("button[data-remove]").is_visible()
        liked.append(entry.locator("strong").inner_text())
    assert page.evaluate("window.__stillHere") is True  # saved without a page load
    assert sorted(
        Interaction.objects.filter(rater__user__username="nina").values_list("item__title", "value")
    ) == sorted((title, 5.0) for title in liked)
    screenshot("story-onboarding")

    page.click("#see-my-list")
    page.wait_for_selector("ol.recs li")
    before = recommended(page)
    assert page.get_attribute("#strategy", "data-strategy") == "folded-in"
    assert not set(liked) & set(before)
    assert before[0].startswith("Drama")  # the list follows what was just rated
    screenshot("story-for-you")

    page.click(f"ol.recs >> text={before[0]}")
    page.wait_for_selector(f"h1:has-text('{before[0]}')")
    page.evaluate("window.__stillHere = true")
    page.click(".rating button.star[value='4']")
    page.wait_for_selector(".rating .saved:has-text('Saved')")
    assert page.evaluate("window.__stillHere") is True
    assert Interaction.objects.get(rater__user__username="nina", item__title=before[0]).value == 4
    screenshot("story-item")

    page.click("nav >> text=For you")
    page.wait_for_selector("ol.recs li")
    after = recommended(page)
    assert before[0] not in after
    assert after != before
    screenshot("story-for-you-after-rating")

    dismissed = after[0]
    page.locator("ol.recs > li").first.locator("button[data-not-interested]").click()
    page.wait_for_selector("ol.recs > li:first-child", state="hidden")
    assert recommended(page) == after[1:]
    saved = Interaction.objects.get(rater__user__username="nina", item__title=dismissed)
    assert saved.event_type == Interaction.EventType.NOT_INTERESTED
    screenshot("story-not-interested")
    page.reload()
    assert dismissed not in recommended(page)


def test_api_docs_render_under_the_strict_policy(page, live_server, screenshot):
    errors: list[str] = []
    page.on(
        "console", lambda message: errors.append(message.text) if message.type == "error" else None
    )

    page.goto(f"{live_server.url}/api/docs/")

    page.wait_for_selector(".swagger-ui .opblock-tag")
    assert page.locator(".swagger-ui .opblock").count() > 10
    assert not [e for e in errors if "Content Security Policy" in e]
    screenshot("api-docs")
