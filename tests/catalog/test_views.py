"""Operator pages: who may see them, and the upload → review → import flow."""

from __future__ import annotations

import pytest
from django.urls import reverse

from catalog.models import DataImport, Interaction
from tests.catalog.helpers import run_import, upload

pytestmark = pytest.mark.django_db

OPERATOR_PAGES = [
    ("catalog:dataset-overview", {}),
    ("catalog:data-import-list", {}),
    ("catalog:data-import-upload", {}),
    ("catalog:data-import-detail", {"import_id": 1}),
    ("catalog:data-import-review", {"import_id": 1}),
    ("catalog:data-import-errors", {"import_id": 1}),
]
CSV = "user_id,item_id,rating,timestamp\nu1,i1,4,1700000000\nu2,i1,5,1700000001\n"


@pytest.mark.parametrize(("name", "kwargs"), OPERATOR_PAGES)
def test_anonymous_visitors_are_sent_to_log_in(client, name, kwargs):
    response = client.get(reverse(name, kwargs=kwargs))

    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))


@pytest.mark.parametrize(("name", "kwargs"), OPERATOR_PAGES)
def test_end_users_are_refused(end_user_client, name, kwargs):
    response = end_user_client.get(reverse(name, kwargs=kwargs))

    assert response.status_code == 403


def test_end_users_cannot_post_an_upload(end_user_client):
    response = end_user_client.post(
        reverse("catalog:data-import-upload"), {"file": upload("r.csv", CSV), "kind": "auto"}
    )

    assert response.status_code == 403
    assert DataImport.objects.count() == 0


def test_upload_review_and_start_imports_the_file(
    operator_client, django_capture_on_commit_callbacks
):
    response = operator_client.post(
        reverse("catalog:data-import-upload"),
        {"file": upload("r.csv", CSV), "kind": "auto", "format": "auto"},
    )
    data_import = DataImport.objects.get()
    assert response.status_code == 302
    assert response.url == reverse("catalog:data-import-review", args=[data_import.pk])
    assert data_import.status == DataImport.Status.DRAFT

    review = operator_client.get(response.url)
    assert review.status_code == 200
    assert b"u2" in review.content  # the preview shows the first rows

    with django_capture_on_commit_callbacks(execute=True):
        started = operator_client.post(
            response.url,
            {
                "kind": "auto",
                "format": "auto",
                "map_rater": "user_id",
                "map_item": "item_id",
                "map_value": "rating",
                "map_timestamp": "timestamp",
                "start": "1",
            },
        )

    assert started.url == reverse("catalog:data-import-detail", args=[data_import.pk])
    data_import.refresh_from_db()
    assert data_import.status == DataImport.Status.SUCCEEDED, data_import.message
    assert Interaction.objects.count() == 2
    detail = operator_client.get(started.url)
    assert b"Imported 2 rows" in detail.content


def test_review_maps_columns_of_an_unrecognised_header(operator_client):
    content = "who,what,stars\na,x,4\nb,y,2\n"
    operator_client.post(
        reverse("catalog:data-import-upload"),
        {"file": upload("r.csv", content), "kind": "interactions", "format": "auto"},
    )
    data_import = DataImport.objects.get()

    operator_client.post(
        reverse("catalog:data-import-review", args=[data_import.pk]),
        {
            "kind": "interactions",
            "format": "auto",
            "map_rater": "who",
            "map_item": "what",
            "map_value": "stars",
            "update": "1",
        },
    )
    page = operator_client.get(reverse("catalog:data-import-review", args=[data_import.pk]))

    data_import.refresh_from_db()
    assert data_import.options["column_map"] == {"rater": "who", "item": "what", "value": "stars"}
    assert page.status_code == 200
    assert b"<td>4.0</td>" in page.content or b"<td>4</td>" in page.content


def test_upload_of_a_binary_file_shows_the_error_on_the_form(operator_client):
    response = operator_client.post(
        reverse("catalog:data-import-upload"),
        {"file": upload("r.csv", b"\x00\x01\x02\x03binary\x00"), "kind": "auto", "format": "auto"},
    )

    assert response.status_code == 200
    assert b"not a text file" in response.content
    assert DataImport.objects.count() == 0


def test_failed_import_lists_errors_and_offers_the_csv(operator_client):
    data_import = run_import("r.csv", "user_id,item_id,rating\nu1,i1,x\n")

    page = operator_client.get(reverse("catalog:data-import-detail", args=[data_import.pk]))
    download = operator_client.get(reverse("catalog:data-import-errors", args=[data_import.pk]))

    assert b"1 row error" in page.content
    assert download.status_code == 200
    assert b"2,rating,x," in b"".join(download.streaming_content)


def test_dataset_overview_shows_counts_charts_and_warnings(operator_client):
    run_import("r.csv", CSV)

    response = operator_client.get(reverse("catalog:dataset-overview"))

    assert response.status_code == 200
    overview = response.context["overview"]
    assert (overview.items, overview.raters, overview.interactions) == (1, 2, 2)
    assert set(response.context["charts"]) == {"ratings", "long_tail", "activity", "over_time"}
    assert any("too little data" in w for w in overview.warnings)
    assert b"vendor/plotly/plotly.min.js" in response.content


def test_catalog_search_is_public(client):
    run_import("items.csv", "item_id,title,genres\n1,Heat,Action\n2,Alien,Horror\n")

    response = client.get(reverse("catalog:item-list"), {"q": "ali"})

    assert [i.title for i in response.context["page"].object_list] == ["Alien"]


def test_pages_carry_a_strict_content_security_policy(client):
    response = client.get(reverse("catalog:item-list"))

    assert "script-src 'self'" in response.headers["Content-Security-Policy"]


def test_starting_an_unmapped_file_asks_for_the_mapping(operator_client):
    operator_client.post(
        reverse("catalog:data-import-upload"),
        {"file": upload("r.csv", "p,q,r\na,x,4\n"), "kind": "interactions", "format": "auto"},
    )
    data_import = DataImport.objects.get()

    response = operator_client.post(
        reverse("catalog:data-import-review", args=[data_import.pk]),
        {"kind": "interactions", "format": "auto", "start": "1"},
    )

    assert response.status_code == 200
    assert "could not find the rater and item columns" in response.content.decode()
    assert DataImport.objects.get().status == DataImport.Status.DRAFT


@pytest.mark.parametrize(("delimiter", "stored"), [("\\t", "\t"), (";", ";"), ("::", "::")])
def test_the_upload_page_takes_a_delimiter_with_tab_written_as_backslash_t(
    operator_client, delimiter, stored
):
    operator_client.post(
        reverse("catalog:data-import-upload"),
        {"file": upload("r.csv", CSV), "kind": "auto", "format": "auto", "delimiter": delimiter},
    )

    assert DataImport.objects.get().options["delimiter"] == stored


def test_an_impossible_delimiter_is_shown_beside_its_field(operator_client):
    response = operator_client.post(
        reverse("catalog:data-import-upload"),
        {"file": upload("r.csv", CSV), "kind": "auto", "format": "auto", "delimiter": "ab"},
    )

    assert response.status_code == 200
    assert "is not one character" in response.context["form"].errors["delimiter"][0]
    assert DataImport.objects.count() == 0
