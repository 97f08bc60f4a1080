"""The operator dashboard in a real browser: every page, live progress, and one full workflow."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from catalog.models import Interaction, Item, Rater
from recommender import services
from recommender.models import (
    EpochMetric,
    RecommendationImpression,
    RecommendationSnapshot,
    TrainingRun,
)
from tests.recommender.helpers import launch

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "operator-pw-123"


@pytest.fixture(autouse=True)
def fast_passwords(settings):
    """Hash the test passwords cheaply: creating and logging in the operator is then instant."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def catalog(db):
    """Two taste groups of 12 raters over 8 items each; each rater misses one item of theirs."""
    items = [Item.objects.create(external_id=f"i{n}", title=f"Item {n}") for n in range(16)]
    when = timezone.now() - timedelta(days=3)
    rows = []
    for group in range(2):
        for r in range(12):
            rater = Rater.objects.create(external_id=f"g{group}r{r}")
            rows += [
                Interaction(
                    rater=rater,
                    item=items[group * 8 + n],
                    value=4 + n % 2,
                    occurred_at=when + timedelta(hours=n),
                )
                for n in range(8)
                if n != r % 8
            ]
    Interaction.objects.bulk_create(rows)
    return items


@pytest.fixture
def operator_page(page, live_server, log_in, operator):
    log_in("olivia", PASSWORD)
    page.wait_for_url(re.compile(r"/operator/$"))
    return page


def no_reload_marker(page) -> None:
    page.evaluate("window.__stillHere = true")


def assert_not_reloaded(page) -> None:
    assert page.evaluate("window.__stillHere === true")


def test_dashboard_overview(operator_page, live_server, catalog, operator, screenshot):
    run = launch("itemknn")
    services.training_run_activate(run=run, activated_by=operator)
    # One rater was served their list (a top-10, or fewer: 9 here) and rated its first item.
    snapshot = RecommendationSnapshot.objects.filter(run=run).order_by("rater_id").first()
    served_at = timezone.now() - timedelta(hours=1)
    RecommendationImpression.objects.create(
        rater=snapshot.rater, item_ids=snapshot.item_ids[:10], surface="page", served_at=served_at
    )
    Interaction.objects.create(
        rater=snapshot.rater,
        item_id=snapshot.item_ids[0],
        value=5,
        source="site",
        occurred_at=served_at + timedelta(minutes=1),
    )
    page = operator_page

    page.goto(f"{live_server.url}/")
    page.wait_for_selector("#chart-over_time + .chart-plot .main-svg, .chart-plot .main-svg")

    listed = min(10, len(snapshot.item_ids))
    assert page.inner_text("#feedback-rate") == f"{100 / listed:.1f}%"
    assert f"1 of {listed} served, last 30 days" in page.inner_text(".kpis")
    assert f"Run {run.pk} · itemknn" in page.inner_text("main")
    assert "by olivia" in page.inner_text("main")
    legend = page.locator(".chart-plot .legendtext").all_text_contents()
    assert sorted(legend) == ["import", "site"]
    screenshot("dashboard-overview")

    page.set_viewport_size({"width": 390, "height": 844})
    page.reload()
    page.wait_for_selector(".chart-plot .main-svg")
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"the page scrolls sideways on a phone ({width}px)"
    screenshot("dashboard-overview-phone")


def test_empty_dashboard_says_what_to_do(operator_page, live_server, screenshot):
    page = operator_page

    assert "No data and no model yet" in page.inner_text("main")
    page.click("text=import a ratings file")
    page.wait_for_url(re.compile(r"/operator/imports/new/$"))
    page.go_back()
    screenshot("dashboard-empty")


def test_run_list_is_live_and_its_form_follows_the_algorithm(
    operator_page, live_server, catalog, screenshot
):
    running = TrainingRun.objects.create(
        algorithm="ease", status="running", epochs_total=4, epochs_done=1, phase="evaluating"
    )
    page = operator_page
    page.goto(f"{live_server.url}/operator/runs/")
    no_reload_marker(page)
    row = page.locator(f'tr[data-run-id="{running.pk}"]')

    TrainingRun.objects.filter(pk=running.pk).update(epochs_done=3)
    expect(row.locator('[data-run-field="epochs"]')).to_have_text("3/4")
    assert row.locator("progress").evaluate("p => p.value") == 0.75
    screenshot("runs-live-progress")
    TrainingRun.objects.filter(pk=running.pk).update(
        status="succeeded", epochs_done=4, metrics={"ndcg_at_10": 0.3125}
    )
    row.locator(".status-succeeded").wait_for()
    assert row.locator('[data-run-field="ndcg_at_10"]').inner_text() == "0.3125"
    assert_not_reloaded(page)

    # The launch form shows only the chosen algorithm's hyper-parameters, with defaults and help.
    page.select_option("#id_algorithm", "itemknn")
    assert page.is_visible("#id_itemknn__neighbours")
    assert not page.is_visible("#id_ease__l2")
    assert page.input_value("#id_itemknn__neighbours") == "150"
    assert "most-similar items" in page.inner_text('fieldset[data-algorithm="itemknn"]')
    page.select_option("#id_algorithm", "ease")
    page.fill("#id_ease__l2", "-5")
    page.click("#launch-form button[type=submit]")

    error = page.locator('fieldset[data-algorithm="ease"] .errorlist')
    error.wait_for()
    assert "must be > 0" in error.inner_text()
    assert page.is_visible("#id_ease__l2")
    assert not page.is_visible("#id_itemknn__neighbours")
    assert TrainingRun.objects.count() == 1
    page.locator("#id_ease__l2").scroll_into_view_if_needed()
    screenshot("runs-launch-error")


def test_run_detail_draws_curves_while_the_run_trains(operator_page, live_server, screenshot):
    run = TrainingRun.objects.create(
        algorithm="bpr", status="running", epochs_total=8, epochs_done=1, started_at=timezone.now()
    )
    EpochMetric.objects.create(run=run, epoch=1, name="train_loss", value=0.69)
    page = operator_page
    page.goto(f"{live_server.url}/operator/runs/{run.pk}/")
    page.wait_for_selector('[data-figure="chart-curves"] .main-svg')
    no_reload_marker(page)

    for epoch, loss, ndcg in [(2, 0.5, 0.11), (3, 0.41, 0.16)]:
        EpochMetric.objects.create(run=run, epoch=epoch, name="train_loss", value=loss)
        EpochMetric.objects.create(run=run, epoch=epoch, name="val_ndcg_at_10", value=ndcg)
    TrainingRun.objects.filter(pk=run.pk).update(epochs_done=3)
    legend = page.locator('[data-figure="chart-curves"] .legendtext')
    expect(legend).to_have_count(2)
    names = legend.all_text_contents()
    assert names == ["train_loss", "val_ndcg_at_10"]
    assert page.inner_text('[data-field="epochs_done"]') == "3"
    assert_not_reloaded(page)
    screenshot("run-detail-live")

    page.click("text=Cancel run")
    assert TrainingRun.objects.get(pk=run.pk).cancel_requested
    TrainingRun.objects.filter(pk=run.pk).update(status="cancelled", error="Cancelled.")
    page.wait_for_selector("#run-status .status-cancelled")


def test_rater_browser_and_what_if(operator_page, live_server, catalog, operator, screenshot):
    popularity, knn = launch("popularity"), launch("itemknn")
    services.training_run_activate(run=knn, activated_by=operator)
    page = operator_page

    page.click("nav >> text=Raters")
    page.fill("#rater-q", "g0r")
    page.press("#rater-q", "Enter")
    assert page.locator("#rater-results tbody tr").count() == 12
    page.click("#rater-results >> text=g0r1")
    page.select_option("select[name=run]", str(popularity.pk))
    page.click(".run-picker button")
    lists = page.locator("section.reco")
    assert lists.count() == 2
    assert "Because you rated" in lists.nth(0).inner_text()
    assert "Popular" in lists.nth(1).inner_text()
    assert page.locator("#rater-history tbody tr").count() == 7
    screenshot("rater-recommendations")

    page.click("text=Open in what-if")
    page.wait_for_url(re.compile(r"/operator/what-if/$"))
    assert page.locator("#what-if-history tbody tr").count() == 7
    page.click("text=Clear all")
    assert "No ratings yet" in page.inner_text("main")
    page.fill("#id_item", "i8")
    page.fill("#id_value", "5")
    page.click("button[name=add]")
    first = page.locator("section.reco").first
    assert "Because you rated “Item 8”" in first.inner_text()
    titles = first.locator("ol.reco-list > li > a").all_inner_texts()
    assert set(titles[:7]) == {f"Item {n}" for n in range(9, 16)}
    page.fill("#id_item", "nothing like this")
    page.click("button[name=add]")
    assert "No item has the id or a title like" in page.inner_text("#what-if-add")
    screenshot("what-if")
    assert Interaction.objects.count() == 168


def test_item_page_for_operators(operator_page, live_server, catalog, operator, screenshot):
    popularity, knn = launch("popularity"), launch("itemknn")
    services.training_run_activate(run=knn, activated_by=operator)
    item = Item.objects.get(external_id="i3")
    page = operator_page

    page.goto(f"{live_server.url}/operator/items/{item.pk}/?run={popularity.pk}")
    page.wait_for_selector(".chart-plot .main-svg")

    assert page.locator(".chart-plot .gtitle").text_content() == "Ratings of Item 3"
    lists = page.locator("section.reco")
    assert "Item-item similarity of itemknn" in lists.nth(0).inner_text()
    assert "Co-occurrence" in lists.nth(1).inner_text()
    similar = lists.nth(0).locator("ol.reco-list > li > a").all_inner_texts()
    assert set(similar) == {f"Item {n}" for n in range(8)} - {"Item 3"}
    screenshot("item-inspect")


def test_operator_trains_compares_activates_rolls_back_and_browses_a_rater(
    operator_page, live_server, catalog, screenshot
):
    page = operator_page

    # Launch a popularity baseline and put it in service.
    page.click("nav >> text=Runs")
    page.select_option("#id_algorithm", "popularity")
    page.click("#launch-form button[type=submit]")
    page.wait_for_selector("#run-status .status-succeeded")
    assert "ndcg_at_10" in page.inner_text("table.metrics")
    page.click("button:has-text('Activate')")
    page.wait_for_selector("text=now serves")
    popularity = TrainingRun.objects.get(algorithm="popularity")

    # Launch item-kNN with a hyper-parameter of our own.
    page.click("nav >> text=Runs")
    page.select_option("#id_algorithm", "itemknn")
    page.fill("#id_itemknn__neighbours", "50")
    page.click("#launch-form button[type=submit]")
    page.wait_for_selector("#run-status .status-succeeded")
    knn = TrainingRun.objects.get(algorithm="itemknn")
    assert knn.config["neighbours"] == 50
    assert "<code>50</code>" in page.inner_html("main")
    screenshot("e2e-run-detail")

    # Compare the two runs and activate the better one.
    page.click("nav >> text=Runs")
    page.check(f'input[name=runs][value="{popularity.pk}"]')
    page.check(f'input[name=runs][value="{knn.pk}"]')
    page.click("text=Compare selected runs")
    page.wait_for_selector(".chart-plot .main-svg")
    assert "Comparable: same protocol (P1)" in page.inner_text("main")
    verdict = page.locator("table.significance tbody tr").first.inner_text()
    assert "significant" in verdict
    assert knn.metrics["ndcg_at_10"] > popularity.metrics["ndcg_at_10"]
    screenshot("e2e-compare")
    page.click(f"text=Activate run {knn.pk} (itemknn)")
    page.wait_for_selector(
        f"text=Run {knn.pk} (itemknn) now serves (replacing run {popularity.pk})"
    )

    # Roll back from the model registry.
    page.click("nav >> text=Models")
    assert f"Run {knn.pk} · itemknn" in page.inner_text("#serving-run")
    page.click(f"text=Roll back to run {popularity.pk} (popularity)")
    page.wait_for_selector(f"#serving-run >> text=Run {popularity.pk} · popularity")
    assert page.locator("#activation-history tbody tr").count() == 3
    assert TrainingRun.objects.get(is_active=True) == popularity
    screenshot("e2e-model-registry")

    # Browse a rater: the serving (popularity) list beside item-kNN's, each with its reason.
    page.click("nav >> text=Raters")
    page.fill("#rater-q", "g1r3")
    page.press("#rater-q", "Enter")
    page.select_option("select[name=run]", str(knn.pk))
    page.click(".run-picker button")
    serving, other = page.locator("section.reco").nth(0), page.locator("section.reco").nth(1)
    assert "Popular" in serving.inner_text()
    first = other.locator("ol.reco-list > li").first
    assert first.locator("a").inner_text() == "Item 11"
    assert re.search(r"Because you rated “Item \d+” and “Item \d+”", first.inner_text())
    screenshot("e2e-rater")


def test_imports_search_policy_and_api_key_pages(operator_page, live_server, screenshot):
    page = operator_page
    nav = page.locator("header nav, nav").first

    # Imports: an empty history says what to do next
    nav.get_by_role("link", name="Imports", exact=True).click()
    expect(page.get_by_role("heading", name="Imports")).to_be_visible()
    expect(page.get_by_role("link", name="Upload a file")).to_be_visible()
    screenshot("import-list")

    # Search: the launch form is there
    nav.get_by_role("link", name="Search", exact=True).click()
    expect(page.get_by_role("heading", name="Hyper-parameter search")).to_be_visible()
    expect(page.get_by_role("button", name="Launch search")).to_be_visible()
    screenshot("search-list")

    # Policy: a bad diversity is refused beside the field, a good one is saved
    nav.get_by_role("link", name="Policy", exact=True).click()
    expect(page.get_by_role("heading", name="Serving and retraining")).to_be_visible()
    page.fill("#id_diversity", "7")
    page.get_by_role("button", name="Save").click()
    expect(page.locator(".errorlist").first).to_be_visible()
    page.fill("#id_diversity", "0.3")
    page.get_by_role("button", name="Save").click()
    expect(page.locator(".errorlist")).to_have_count(0)
    assert page.input_value("#id_diversity") == "0.3"
    screenshot("serving-policy")

    # API keys: a new key is shown once, then revoked
    nav.get_by_role("link", name="API keys", exact=True).click()
    page.fill("#id_name", "web shop")
    page.get_by_role("button", name="Create key").click()
    expect(page.locator("#new-key")).to_contain_text("rs_")
    screenshot("api-keys")
    page.get_by_role("button", name="Revoke").click()
    expect(page.get_by_text("revoked", exact=False).first).to_be_visible()
    expect(page.locator("#new-key")).to_have_count(0)


# --- Every operator page on a phone and with the keyboard alone --------------------------------

PHONE = {"width": 390, "height": 844}
LAPTOP = {"width": 1280, "height": 900}


@pytest.fixture
def two_runs(catalog, operator):
    """Popularity served first, then item-kNN: so there is a rollback and a run to compare."""
    popularity, knn = launch("popularity"), launch("itemknn")
    services.training_run_activate(run=popularity, activated_by=operator)
    services.training_run_activate(run=knn, activated_by=operator)
    return popularity, knn


def tab_to(page, selector: str, limit: int = 120) -> None:
    """Press Tab until ``selector`` has the focus, which must then be visibly marked."""
    target = page.locator(selector).first
    for _ in range(limit):
        page.keyboard.press("Tab")
        if target.evaluate("el => el === document.activeElement"):
            outline = target.evaluate("el => getComputedStyle(el).outlineStyle")
            assert outline != "none", f"{selector} has the focus but no visible outline"
            return
    pytest.fail(f"Tab never reached {selector}")


def wide_elements(page) -> list[str]:
    """Elements that reach past the right edge outside any scrolling box (to say what to fix)."""
    return page.evaluate(
        """() => {
        const clipped = el => {
            for (let up = el.parentElement; up && up !== document.body; up = up.parentElement) {
                if (getComputedStyle(up).overflowX !== "visible") return true;
            }
            return false;
        };
        return [...document.querySelectorAll("body *")]
            .filter(el => el.getBoundingClientRect().right > window.innerWidth + 1 && !clipped(el))
            .map(el => `${el.tagName.toLowerCase()}.${el.className}`
                + ` (${Math.round(el.getBoundingClientRect().right)}px)`)
            .slice(0, 8);
        }"""
    )


def fits_a_phone(page, main: str) -> None:
    """No sideways scrolling, and the page's main control is on screen when scrolled to."""
    width, inner = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert width <= inner, (
        f"the page scrolls sideways on a phone ({width}px > {inner}px): {wide_elements(page)}"
    )
    control = page.locator(main).first
    control.scroll_into_view_if_needed()
    expect(control).to_be_visible()
    box = control.bounding_box()
    assert box["x"] >= 0, f"{main} starts off screen: {box}"
    assert box["x"] + box["width"] <= inner, f"{main} sticks out on the right: {box}"


def use_overview(page, world) -> None:
    tab_to(page, "main a.button.primary")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/operator/runs/#launch$"))


def use_run_list(page, world) -> None:
    page.select_option("#id_algorithm", "popularity")
    tab_to(page, "#launch-form button[type=submit]")
    page.keyboard.press("Enter")
    page.wait_for_selector("#run-status .status-succeeded")
    assert TrainingRun.objects.filter(algorithm="popularity").count() == 2


def use_run_detail(page, world) -> None:
    popularity, _ = world
    tab_to(page, "button:has-text('Activate')")
    page.keyboard.press("Enter")
    page.wait_for_selector(f"text=Run {popularity.pk} (popularity) now serves")


def use_compare(page, world) -> None:
    for run in world:
        tab_to(page, f'input[name=runs][value="{run.pk}"]')
        page.keyboard.press("Space")
    tab_to(page, "form.stack button[type=submit]")
    page.keyboard.press("Enter")
    page.wait_for_selector("table.significance")
    assert page.locator("table.significance tbody tr").count() >= 5  # one row per metric


def use_model_registry(page, world) -> None:
    popularity, _ = world
    tab_to(page, "button:has-text('Roll back')")
    page.keyboard.press("Enter")
    page.wait_for_selector(f"#serving-run >> text=Run {popularity.pk} · popularity")


def use_rater_browser(page, world) -> None:
    tab_to(page, "#rater-q")
    page.keyboard.type("g1r3")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/operator/raters/\d+/$"))


def use_run_picker(page, world) -> None:
    """Choose the other run with the arrow keys, then show it with Enter on "Show"."""
    popularity, _ = world
    tab_to(page, ".run-picker select")
    page.keyboard.press("ArrowDown")
    assert page.input_value(".run-picker select") == str(popularity.pk)
    tab_to(page, ".run-picker button")
    page.keyboard.press("Enter")
    expect(page.locator("section.reco")).to_have_count(2)


def use_upload_link(page, world) -> None:
    tab_to(page, "main a:has-text('Upload a file')")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/operator/imports/new/$"))


def use_search(page, world) -> None:
    page.fill("#id_space", "not json")
    tab_to(page, "#search-form button[type=submit]")
    page.keyboard.press("Enter")
    expect(page.locator("#search-form .errorlist")).to_contain_text("Not valid JSON")


def use_policy(page, world) -> None:
    tab_to(page, "#id_diversity")
    page.keyboard.press("ControlOrMeta+a")
    page.keyboard.type("0.2")
    tab_to(page, "main form button[type=submit]")
    page.keyboard.press("Space")
    expect(page.locator(".messages")).to_contain_text("Policy saved.")


def use_api_keys(page, world) -> None:
    tab_to(page, "#id_name")
    page.keyboard.type("web shop")
    tab_to(page, "button:has-text('Create key')")
    page.keyboard.press("Enter")
    expect(page.locator("#new-key")).to_contain_text("rs_")


def item_path(world) -> str:
    return f"/operator/items/{Item.objects.get(external_id='i3').pk}/"


def rater_path(world) -> str:
    return f"/operator/raters/{Rater.objects.get(external_id='g1r3').pk}/"


# name, path (or a function of the runs), needs runs, main control, how the keyboard uses it
OPERATOR_PAGES = [
    ("overview", "/operator/", True, "main a.button.primary", use_overview),
    ("runs", "/operator/runs/", True, "#launch-form button[type=submit]", use_run_list),
    (
        "run-detail",
        lambda world: f"/operator/runs/{world[0].pk}/",
        True,
        "button:has-text('Activate')",
        use_run_detail,
    ),
    ("compare", "/operator/runs/compare/", True, "form.stack button[type=submit]", use_compare),
    ("models", "/operator/models/", True, "button:has-text('Roll back')", use_model_registry),
    ("raters", "/operator/raters/", True, "#rater-q", use_rater_browser),
    ("rater", rater_path, True, ".run-picker button", use_run_picker),
    ("item", item_path, True, ".run-picker button", use_run_picker),
    ("imports", "/operator/imports/", False, "main a:has-text('Upload a file')", use_upload_link),
    ("data", "/operator/data/", False, "main a:has-text('Upload a file')", use_upload_link),
    ("search", "/operator/searches/", False, "#search-form button[type=submit]", use_search),
    ("policy", "/operator/policy/", False, "main form button[type=submit]", use_policy),
    ("api-keys", "/operator/api-keys/", False, "button:has-text('Create key')", use_api_keys),
]


@pytest.mark.parametrize(
    ("name", "path", "needs_runs", "main", "use"),
    OPERATOR_PAGES,
    ids=[page[0] for page in OPERATOR_PAGES],
)
def test_operator_page_on_a_laptop_a_phone_and_the_keyboard(
    request, operator_page, live_server, catalog, screenshot, name, path, needs_runs, main, use
):
    world = request.getfixturevalue("two_runs") if needs_runs else None
    url = live_server.url + (path(world) if callable(path) else path)
    page = operator_page

    page.goto(url)
    page.wait_for_load_state("networkidle")
    expect(page.locator(main).first).to_be_visible()
    screenshot(f"{name}-laptop")

    page.set_viewport_size(PHONE)
    page.reload()
    page.wait_for_load_state("networkidle")
    fits_a_phone(page, main)
    screenshot(f"{name}-phone")

    page.evaluate("window.scrollTo(0, 0)")
    use(page, world)
    page.wait_for_load_state("networkidle")
    width, inner = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert width <= inner, f"after the action, the page scrolls sideways: {wide_elements(page)}"
    screenshot(f"{name}-phone-after-action")
