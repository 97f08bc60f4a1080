"""An operator uploads a file in a real browser, maps it, imports it and sees the result."""

from __future__ import annotations

import pytest

from catalog.models import Interaction

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CSV = "who,what,stars,when\n007,i1,4,1700000000\n008,i1,5,1700000001\n008,i2,2,1700000002\n"
BAD = "user_id,item_id,rating\nu1,i1,4\nu2,i2,eleven\n"


def test_operator_uploads_maps_and_imports_a_file(
    page, live_server, log_in, operator, tmp_path, screenshot, settings
):
    settings.CELERY_TASK_ALWAYS_EAGER = True
    path = tmp_path / "mine.csv"
    path.write_text(CSV)
    log_in("olivia", "operator-pw-123")

    page.goto(f"{live_server.url}/operator/imports/new/")
    page.set_input_files("#id_file", str(path))
    page.select_option("#id_kind", "interactions")
    screenshot("import-upload")
    page.click("text=Upload and preview")

    page.select_option("#id_map_rater", "who")
    page.select_option("#id_map_item", "what")
    page.select_option("#id_map_value", "stars")
    page.select_option("#id_map_timestamp", "when")
    page.click("button[name=update]")
    assert page.locator("table.preview").inner_text().count("007") == 1
    screenshot("import-review")
    page.click("button[name=start]")

    page.wait_for_selector(".status-succeeded")
    screenshot("import-detail")
    assert "Imported 3 rows" in page.inner_text("#import-status")
    assert Interaction.objects.count() == 3


def test_operator_sees_every_error_of_a_refused_file(
    page, live_server, log_in, operator, tmp_path, screenshot
):
    path = tmp_path / "bad.csv"
    path.write_text(BAD)
    log_in("olivia", "operator-pw-123")

    page.goto(f"{live_server.url}/operator/imports/new/")
    page.set_input_files("#id_file", str(path))
    page.click("text=Upload and preview")
    page.click("button[name=start]")

    page.wait_for_selector(".status-failed")
    screenshot("import-failed")
    errors = page.inner_text("table.errors")
    assert "eleven" in errors
    assert "rating" in errors
    assert Interaction.objects.count() == 0


def test_dataset_overview_draws_its_charts(page, live_server, log_in, operator, screenshot):
    from tests.catalog.helpers import run_import

    run_import(
        "r.csv",
        "user_id,item_id,rating,timestamp\n"
        + "".join(
            f"u{u},i{i},{(u + i) % 5 + 1},{1700000000 + 86400 * i}\n"
            for u in range(8)
            for i in range(u + 2)
        ),
    )
    log_in("olivia", "operator-pw-123")

    page.goto(f"{live_server.url}/operator/data/")
    page.wait_for_selector(".chart-plot .main-svg")

    assert page.locator(".chart-plot .main-svg").count() >= 4
    screenshot("dataset-overview")
