"""The star widget with the keyboard only: Tab to it, arrow keys to choose, Enter to save."""

from __future__ import annotations

import pytest
from django.urls import reverse

from catalog.models import Interaction
from tests.browser.end_user_data import active_itemknn_run, genre_catalog, site_user_for_rater

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "keyboard-pass-phrase-3"


@pytest.fixture(autouse=True)
def fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def focused(page) -> dict[str, str]:
    return page.evaluate(
        "() => ({cls: document.activeElement.className, value: document.activeElement.value})"
    )


def tab_to_first_star(page, want: str = "1", limit: int = 40) -> None:
    """Tab from the top until a star has focus; it must be star ``want``."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        if focused(page)["cls"].startswith("star"):
            assert focused(page)["value"] == want
            return
    pytest.fail("Tab never reached the stars")


def test_stars_are_chosen_with_arrow_keys_and_saved_with_enter(
    page, live_server, log_in, django_user_model, screenshot
):
    item = genre_catalog()["Comedy"][0]
    django_user_model.objects.create_user(username="kim", password=PASSWORD)
    log_in("kim", PASSWORD)
    page.wait_for_selector("text=Log out")
    page.goto(live_server.url + reverse("catalog:item-detail", args=[item.pk]))
    page.evaluate("window.__stillHere = true")

    tab_to_first_star(page)
    for _ in range(3):
        page.keyboard.press("ArrowRight")
    assert focused(page) == {"cls": "star", "value": "4"}
    page.keyboard.press("ArrowLeft")
    page.keyboard.press("ArrowRight")
    page.keyboard.press("Enter")

    page.wait_for_selector(".rating .saved:has-text('Saved')")
    assert page.evaluate("window.__stillHere") is True
    assert page.get_attribute("button.star[value='4']", "aria-pressed") == "true"
    assert page.locator("button.star.on").count() == 4
    page.reload()  # the saved star is the one Tab lands on
    tab_to_first_star(page, want="4")
    screenshot("keyboard-star-widget")
    rating = Interaction.objects.get(rater__user__username="kim", item=item)
    assert (rating.value, rating.event_type) == (4.0, Interaction.EventType.RATING)


def test_not_interested_from_the_keyboard_moves_focus_to_the_next_pick(
    page, live_server, log_in, screenshot
):
    genre_catalog()
    site_user_for_rater("sci-fi-r0", "kai", PASSWORD)
    active_itemknn_run()
    log_in("kai", PASSWORD)
    page.wait_for_selector("text=Log out")
    page.goto(live_server.url + reverse("recommender:for-you"))
    picks = page.locator("ol.recs > li > a").all_inner_texts()

    page.focus("ol.recs > li:first-child > a")
    page.keyboard.press("Tab")
    assert focused(page) == {"cls": "star", "value": "1"}
    page.keyboard.press("Tab")  # the stars are one stop: arrows move within them
    assert page.evaluate("document.activeElement.textContent") == "Not interested"
    page.keyboard.press("Enter")

    page.wait_for_selector("ol.recs > li:first-child", state="hidden")
    assert page.evaluate("document.activeElement.textContent") == picks[1]
    screenshot("keyboard-not-interested")
    dismissed = Interaction.objects.get(rater__user__username="kai", item__title=picks[0])
    assert dismissed.event_type == Interaction.EventType.NOT_INTERESTED
