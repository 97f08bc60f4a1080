"""A new person signs up, is onboarded, rates items and sees "for you" change at once."""

from __future__ import annotations

import pytest
from django.urls import reverse

from catalog.models import Interaction
from recommender import services

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
    assert rated_title not in page.inner_text("ol.recs")
    screenshot("for-you")
    page.locator("ol.recs li").first.locator("button.star[value='4']").click()
    page.wait_for_selector("ol.recs li .saved:has-text('Saved')")
    page.reload()

    after_items = page.locator("ol.recs li").evaluate_all("els => els.map(e => e.dataset.item)")
    assert before not in after_items
    assert page.get_attribute("#strategy", "data-strategy") == "folded-in"
    assert Interaction.objects.filter(rater__user__username="newbie").count() == 2


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
