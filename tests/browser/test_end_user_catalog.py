"""Browsing the catalog in a real browser: search, genre filter and pagination."""

from __future__ import annotations

import pytest
from django.urls import reverse

from catalog import selectors
from tests.browser.end_user_data import genre_catalog

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def listed_titles(page) -> list[str]:
    return page.locator("ul.cards li > a").all_inner_texts()


def titles_in_database(*, search: str = "", genre: str = "") -> list[str]:
    return [item.display_title for item in selectors.item_list(search=search, genre=genre)]


def test_search_filter_by_genre_and_page_through_the_catalog(page, live_server, screenshot):
    genre_catalog()
    everything = titles_in_database()
    assert len(everything) == 36

    page.goto(live_server.url + reverse("catalog:item-list"))
    assert listed_titles(page) == everything[:30]
    assert page.inner_text(".pagination span") == "Page 1 of 2"
    screenshot("catalog")
    page.click(".pagination >> text=Next")
    page.wait_for_url("**/items/?page=2")
    assert listed_titles(page) == everything[30:]
    page.click(".pagination >> text=Previous")
    page.wait_for_url("**/items/?page=1")
    assert listed_titles(page) == everything[:30]

    page.fill("#site-search", "tale")
    page.press("#site-search", "Enter")
    page.wait_for_selector("text=Results for “tale”: 36")
    assert listed_titles(page) == titles_in_database(search="tale")[:30]
    screenshot("catalog-search")
    page.click(".pagination >> text=Next")
    page.wait_for_url("**/items/?q=tale&page=2")
    assert listed_titles(page) == [f"Sci-Fi Tale {n:02d}" for n in range(6, 12)]

    page.select_option("#genre-filter", "Drama")
    page.click(".filters button[type=submit]")
    page.wait_for_url("**/items/?genre=Drama&q=tale")
    assert listed_titles(page) == titles_in_database(search="tale", genre="Drama")
    assert listed_titles(page) == [f"Drama Tale {n:02d}" for n in range(12)]
    assert page.locator(".pagination").count() == 0
    assert page.input_value("#genre-filter") == "Drama"
    assert page.input_value("#site-search") == "tale"
    screenshot("catalog-genre")

    # A new search from the top bar stays within the chosen genre.
    page.fill("#site-search", "tale 03")
    page.press("#site-search", "Enter")
    page.wait_for_url("**/items/?q=tale+03&genre=Drama")
    assert listed_titles(page) == titles_in_database(search="tale 03", genre="Drama")
    assert listed_titles(page) == ["Drama Tale 03"]

    page.fill("#site-search", "no such tale")
    page.press("#site-search", "Enter")
    page.wait_for_selector(".empty")
    assert "No items match “no such tale”" in page.inner_text(".empty")
    assert listed_titles(page) == []


def test_an_items_genre_links_to_the_filtered_catalog(page, live_server):
    item = genre_catalog()["Sci-Fi"][3]

    page.goto(live_server.url + reverse("catalog:item-detail", args=[item.pk]))
    page.click(".facts >> text=Sci-Fi")

    page.wait_for_url("**/items/?genre=Sci-Fi")
    assert listed_titles(page) == [f"Sci-Fi Tale {n:02d}" for n in range(12)]
    assert page.input_value("#genre-filter") == "Sci-Fi"
