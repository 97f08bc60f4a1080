"""The import and item APIs: permissions, upload, progress, errors."""

from __future__ import annotations

import pytest
from django.urls import reverse
from django.utils import timezone

from catalog.models import DataImport, Interaction, Item, Rater
from tests.catalog.helpers import run_import, upload

pytestmark = pytest.mark.django_db

CSV = "user_id,item_id,rating,timestamp\nu1,i1,4,1700000000\nu2,i1,5,1700000001\n"
OPERATOR_ENDPOINTS = [
    ("get", "api-import-list", {}),
    ("post", "api-import-list", {}),
    ("get", "api-import-detail", {"import_id": 1}),
    ("get", "api-import-errors", {"import_id": 1}),
]


@pytest.mark.parametrize(("method", "name", "kwargs"), OPERATOR_ENDPOINTS)
def test_anonymous_callers_are_refused(api_client, method, name, kwargs):
    response = getattr(api_client, method)(reverse(name, kwargs=kwargs))

    assert response.status_code in (401, 403)
    assert "error" in response.json()


@pytest.mark.parametrize(("method", "name", "kwargs"), OPERATOR_ENDPOINTS)
def test_end_users_are_refused(api_client, end_user, method, name, kwargs):
    api_client.force_authenticate(end_user)

    response = getattr(api_client, method)(reverse(name, kwargs=kwargs))

    assert response.status_code == 403


def test_upload_queues_and_runs_the_import(operator_api, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = operator_api.post(
            reverse("api-import-list"), {"file": upload("r.csv", CSV)}, format="multipart"
        )

    assert response.status_code == 201
    detail = operator_api.get(reverse("api-import-detail", args=[response.json()["id"]])).json()
    assert detail["status"] == "succeeded"
    assert detail["is_finished"] is True
    assert detail["rows_imported"] == 2
    assert Interaction.objects.count() == 2


def test_upload_with_a_column_map(operator_api, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = operator_api.post(
            reverse("api-import-list"),
            {
                "file": upload("r.csv", "a,b,c\nx,y,3\n"),
                "kind": "interactions",
                "column_map": '{"rater": "a", "item": "b", "value": "c"}',
            },
            format="multipart",
        )

    assert response.status_code == 201, response.json()
    assert DataImport.objects.get().status == "succeeded"
    assert Interaction.objects.get().value == 3.0


def test_bad_upload_gets_a_clear_error_body(operator_api):
    response = operator_api.post(
        reverse("api-import-list"), {"file": upload("r.csv", b"\x00\x00\x00")}, format="multipart"
    )

    assert response.status_code == 400
    body = response.json()["error"]
    assert "not a text file" in str(body["details"]["file"])
    assert DataImport.objects.count() == 0


def test_errors_download_neutralises_formulas(operator_api):
    data_import = run_import("r.csv", "user_id,item_id,rating\nu1,i1,=HYPERLINK(1)\n")

    response = operator_api.get(reverse("api-import-errors", args=[data_import.pk]))

    assert response.status_code == 200
    assert b"'=HYPERLINK(1)" in b"".join(response.streaming_content)


def test_items_are_listed_and_searchable(api_client):
    run_import("items.csv", "item_id,title,genres\n1,Heat,Action\n2,Alien,Horror|Sci-Fi\n")

    response = api_client.get(reverse("api-item-list"), {"q": "heat"})

    assert response.status_code == 200
    assert [i["title"] for i in response.json()["results"]] == ["Heat"]


def test_openapi_schema_documents_the_import_endpoint(api_client):
    response = api_client.get(reverse("api-schema"), {"format": "json"})

    assert response.status_code == 200
    assert "/api/v1/imports/" in response.json()["paths"]


def test_an_unmapped_upload_is_refused_with_the_columns_found(operator_api):
    response = operator_api.post(
        reverse("api-import-list"), {"file": upload("r.csv", "p,q,r\na,x,4\n")}, format="multipart"
    )

    assert response.status_code == 400
    assert "found columns: p, q, r" in str(response.json()["error"]["details"])
    assert DataImport.objects.count() == 0


def test_lists_page_with_limit_and_offset(operator_api):
    for n in range(5):
        operator_api.post(reverse("api-rater-list"), {"external_id": f"r{n}"}, format="json")

    first = operator_api.get(reverse("api-rater-list"), {"limit": 2}).json()
    last = operator_api.get(reverse("api-rater-list"), {"limit": 2, "offset": 4}).json()

    assert first["count"] == 5
    assert [r["external_id"] for r in first["results"]] == ["r0", "r1"]
    assert "offset=2" in first["next"]
    assert first["previous"] is None
    assert [r["external_id"] for r in last["results"]] == ["r4"]
    assert last["next"] is None


def test_a_rater_is_renamed_and_its_attributes_replaced(operator_api):
    rater = Rater.objects.create(external_id="r1", attributes={"age": 30})
    Interaction.objects.create(
        rater=rater, item=Item.objects.create(external_id="i1"), value=4, occurred_at=timezone.now()
    )

    response = operator_api.patch(
        reverse("api-rater-detail", args=["r1"]),
        {"external_id": "r1-new", "attributes": {"country": "NL"}},
        format="json",
    )

    assert response.status_code == 200, response.json()
    assert response.json()["external_id"] == "r1-new"
    rater.refresh_from_db()
    assert (rater.external_id, rater.attributes) == ("r1-new", {"country": "NL"})
    assert rater.interactions.count() == 1


def test_a_partial_rater_patch_leaves_the_other_field_alone(operator_api):
    Rater.objects.create(external_id="r1", attributes={"age": 30})

    response = operator_api.patch(
        reverse("api-rater-detail", args=["r1"]), {"attributes": {"age": 31}}, format="json"
    )

    assert response.status_code == 200
    assert Rater.objects.get(external_id="r1").attributes == {"age": 31}


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({"external_id": "taken"}, "external_id", "'taken' names another rater"),
        ({"external_id": "   "}, "external_id", "This field may not be blank."),
        ({"attributes": ["not", "an", "object"]}, "attributes", "Expected a dictionary"),
    ],
)
def test_an_invalid_rater_patch_gets_the_error_body_and_changes_nothing(
    operator_api, body, field, message
):
    Rater.objects.create(external_id="taken")
    Rater.objects.create(external_id="r1", attributes={"age": 30})

    response = operator_api.patch(reverse("api-rater-detail", args=["r1"]), body, format="json")

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid"
    assert error["message"] == "Invalid input."
    assert message in error["details"][field][0]
    assert Rater.objects.get(pk=Rater.objects.get(external_id="r1").pk).attributes == {"age": 30}


def test_patching_an_unknown_rater_is_a_404_with_the_error_body(operator_api):
    response = operator_api.patch(
        reverse("api-rater-detail", args=["nobody"]), {"attributes": {}}, format="json"
    )

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    assert response.json()["error"]["message"] == "No Rater matches the given query."


def test_end_users_cannot_patch_raters(api_client, end_user):
    Rater.objects.create(external_id="r1")
    api_client.force_authenticate(end_user)

    response = api_client.patch(
        reverse("api-rater-detail", args=["r1"]), {"attributes": {"x": 1}}, format="json"
    )

    assert response.status_code == 403
    assert Rater.objects.get(external_id="r1").attributes == {}


def test_renaming_an_item_to_another_items_id_is_a_400_naming_the_field(operator_api):
    # Found by schemathesis: it was a 500 (the unique constraint surfaced as IntegrityError).
    Item.objects.create(external_id="taken")
    item = Item.objects.create(external_id="i1", title="One")

    response = operator_api.patch(
        reverse("api-item-manage", args=[item.pk]), {"external_id": "taken"}, format="json"
    )

    assert response.status_code == 400
    assert "'taken' names another item" in response.json()["error"]["details"]["external_id"][0]
    assert Item.objects.get(pk=item.pk).external_id == "i1"


def test_an_item_list_offset_past_what_a_database_holds_is_a_400(api_client):
    # Found by schemathesis: an offset past 64 bits reached the database (a 500).
    response = api_client.get(reverse("api-item-list"), {"offset": 10**30})

    assert response.status_code == 400
    assert "offset" in response.json()["error"]["details"]
