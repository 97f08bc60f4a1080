"""Every end-user page at a phone's viewport (390×844): nothing scrolls sideways."""

from __future__ import annotations

import pytest
from django.urls import reverse

from tests.browser.end_user_data import (
    PHONE,
    active_itemknn_run,
    genre_catalog,
    has_no_horizontal_scroll,
    site_user_for_rater,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "phone-pass-phrase-7"
LONG_NAME = "alexandra.konstantinopoulou@example.com"  # an e-mail address as the user name


@pytest.fixture(autouse=True)
def fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def test_every_end_user_page_fits_a_phone(page, live_server, log_in, screenshot):
    by_genre = genre_catalog()
    site_user_for_rater("drama-r0", LONG_NAME, PASSWORD)
    active_itemknn_run()
    page.set_viewport_size(PHONE)
    item = by_genre["Drama"][0]
    # As a MovieLens import stores it: a long title and an unbroken IMDb address.
    item.title = "Dr. Strangelove or: How I Learned to Stop Worrying and Love the Bomb (1963)"
    item.attributes = {
        "release_date": "01-Jan-1963",
        "url": "http://us.imdb.com/M/title-exact?Dr.%20Strangelove%20or:%20How%20I%20Learned"
        "%20to%20Stop%20Worrying%20and%20Love%20the%20Bomb%20(1963)",
    }
    item.save()
    anonymous = {
        "login": reverse("login"),
        "signup": reverse("catalog:signup"),
        "catalog": reverse("catalog:item-list"),
    }
    signed_in = {
        "catalog-page-2": reverse("catalog:item-list") + "?page=2",
        "catalog-genre": reverse("catalog:item-list") + "?genre=Drama&q=Tale",
        "item": reverse("catalog:item-detail", args=[item.pk]),
        "onboarding": reverse("recommender:onboarding"),
        "for-you": reverse("recommender:for-you"),
        "my-ratings": reverse("catalog:my-ratings"),
        "password-change": reverse("password_change"),
        "password-change-done": reverse("password_change_done"),
        "delete-my-data": reverse("catalog:delete-my-data"),
    }
    too_wide = []
    for pages in (anonymous, signed_in):
        if pages is signed_in:
            log_in(LONG_NAME, PASSWORD)
            page.wait_for_selector("text=Log out")
        for name, path in pages.items():
            page.goto(live_server.url + path)
            screenshot(f"phone-{name}")
            if not has_no_horizontal_scroll(page):
                too_wide.append(name)

    assert too_wide == []
