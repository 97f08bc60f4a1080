"""NUL characters, which PostgreSQL can neither compare nor store, are a 400 wherever a request
can carry them (found by schemathesis against PostgreSQL: each was a 500)."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from catalog.models import DataImport, Item, Rater
from recommender.models import TrainingRun

pytestmark = pytest.mark.django_db


def test_a_page_query_with_a_nul_is_a_400(client):
    response = client.get(reverse("catalog:item-list"), {"q": "a\x00b"})

    assert response.status_code == 400
    assert b"NUL" in response.content


def test_an_api_query_with_a_nul_gets_the_api_error_body(api_client):
    response = api_client.get(reverse("api-item-list"), {"genre": "Drama", "\x00": "x"})

    assert response.status_code == 400
    assert "NUL" in response.json()["error"]["message"]


@pytest.mark.parametrize(
    ("url_name", "method", "body", "field"),
    [
        (
            "api-item-create",
            "post",
            {"external_id": "i1", "attributes": {"k\x00": 1}},
            "attributes",
        ),
        (
            "api-rater-list",
            "post",
            {"external_id": "r1", "attributes": {"k": ["x\x00"]}},
            "attributes",
        ),
        ("api-run-list", "post", {"algorithm": "popularity", "config": {"a\x00": 1}}, "config"),
        ("api-run-list", "post", {"algorithm": "popularity", "signal": {"a": "\x00"}}, "signal"),
    ],
)
def test_json_fields_holding_a_nul_are_refused_naming_the_field(
    operator_api, url_name, method, body, field
):
    response = getattr(operator_api, method)(reverse(url_name), body, format="json")

    assert response.status_code == 400, response.content
    assert field in response.json()["error"]["details"]
    assert not Item.objects.exists()
    assert not TrainingRun.objects.exists()
    assert not Rater.objects.exists()


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"delimiter": "ab"}, "delimiter"),
        ({"delimiter": '"'}, "delimiter"),
        ({"column_map": '{"rater": "u\\u0000", "item": "i"}'}, "column_map"),
        ({"column_map": '{"rater": 1, "item": "i"}'}, "column_map"),
    ],
)
def test_an_import_with_an_impossible_option_is_refused_naming_it(operator_api, extra, field):
    upload = SimpleUploadedFile("r.csv", b"u,i,r\nu1,i1,4\n")

    response = operator_api.post(
        reverse("api-import-list"), {"file": upload, **extra}, format="multipart"
    )

    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert field in error["details"] or field in str(error)
    assert not DataImport.objects.exists()
