"""The OpenAPI schema matches the running API: every endpoint documented, responses conform.

tests/test_openapi_live.py drives every operation (all methods, error answers included) with
Schemathesis; the tests here pin down specific promises of the schema.
"""

from __future__ import annotations

import pytest
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from jsonschema import Draft202012Validator

from catalog.models import Item, Rater
from catalog.services import api_key_create
from recommender import services

pytestmark = pytest.mark.django_db


def api_routes(patterns=None, prefix: str = "") -> list[str]:
    routes = []
    for entry in patterns if patterns is not None else get_resolver().url_patterns:
        route = prefix + str(entry.pattern)
        if isinstance(entry, URLResolver):
            routes += api_routes(entry.url_patterns, route)
        elif isinstance(entry, URLPattern) and route.startswith("api/v1/"):
            routes.append("/" + route.replace("<int:", "{").replace("<str:", "{").replace(">", "}"))
    return routes


@pytest.fixture
def schema(api_client):
    return api_client.get(reverse("api-schema"), {"format": "json"}).json()


def test_every_api_route_is_documented(schema):
    documented = {path for path in schema["paths"]}

    missing = [route for route in api_routes() if route not in documented]

    assert missing == []


def conforms(schema: dict, path: str, method: str, body: object, status: str = "200") -> None:
    response_schema = schema["paths"][path][method]["responses"][status]["content"][
        "application/json"
    ]["schema"]
    validator = Draft202012Validator({**response_schema, "components": schema["components"]})
    errors = [f"{list(e.path)}: {e.message}" for e in validator.iter_errors(body)]
    assert errors == [], f"{method.upper()} {path} drifted from its schema"


def test_responses_conform_to_the_schema(
    schema, api_client, two_taste_catalog, django_capture_on_commit_callbacks
):
    run = services.training_run_create(algorithm="itemknn", enqueue=False)
    services.training_run_execute(run_id=run.pk)
    run.refresh_from_db()
    with django_capture_on_commit_callbacks(execute=True):
        services.training_run_activate(run=run)
    _, raw = api_key_create(name="t", scopes=["read", "manage", "feedback"])
    api_client.credentials(HTTP_AUTHORIZATION=f"Api-Key {raw}")
    item = Item.objects.first()
    rater = Rater.objects.first()
    calls = [
        ("/api/v1/items/", "get", "/api/v1/items/"),
        ("/api/v1/items/{item_id}/", "get", f"/api/v1/items/{item.pk}/"),
        ("/api/v1/items/{item_id}/similar/", "get", f"/api/v1/items/{item.pk}/similar/"),
        (
            "/api/v1/raters/{external_id}/recommendations/",
            "get",
            f"/api/v1/raters/{rater.external_id}/recommendations/",
        ),
        ("/api/v1/raters/{external_id}/", "get", f"/api/v1/raters/{rater.external_id}/"),
        ("/api/v1/metrics/", "get", "/api/v1/metrics/"),
        ("/api/v1/runs/", "get", "/api/v1/runs/"),
        ("/api/v1/runs/{run_id}/", "get", f"/api/v1/runs/{run.pk}/"),
        ("/api/v1/algorithms/", "get", "/api/v1/algorithms/"),
        ("/api/v1/imports/", "get", "/api/v1/imports/"),
        ("/api/v1/raters/", "get", "/api/v1/raters/?limit=5&offset=3"),
        ("/api/v1/searches/", "get", "/api/v1/searches/"),
    ]
    for template, method, url in calls:
        response = getattr(api_client, method)(url)
        assert response.status_code == 200, (url, response.content[:300])
        conforms(schema, template, method, response.json())


def test_the_docs_page_is_served_locally(client):
    response = client.get(reverse("api-docs"))

    assert response.status_code == 200
    assert b"cdn" not in response.content.lower()


def test_every_operation_documents_its_error_answers_and_the_api_key(schema):
    assert schema["components"]["securitySchemes"]["apiKeyAuth"] == {
        "type": "apiKey",
        "in": "header",
        "name": "Authorization",
        "description": "`Api-Key <key>`: a key an operator created, with the scopes the "
        "endpoint needs (read, feedback, manage).",
    }
    error = {"$ref": "#/components/schemas/Error"}
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            responses = operation["responses"]
            assert {"401", "429"} <= set(responses), (method, path)
            assert responses["429"]["content"]["application/json"]["schema"] == error
            if "{" in path:
                assert "404" in responses, (method, path)
    rater = schema["paths"]["/api/v1/raters/{external_id}/"]["patch"]
    assert {"200", "400", "401", "403", "404", "429"} <= set(rater["responses"])


def test_each_input_has_its_own_component_and_json_only_bodies(schema):
    run_body = schema["paths"]["/api/v1/runs/"]["post"]["requestBody"]["content"]
    import_body = schema["paths"]["/api/v1/imports/"]["post"]["requestBody"]["content"]

    assert list(run_body) == ["application/json"]
    assert run_body["application/json"]["schema"]["$ref"].endswith("/TrainingRunInputRequest")
    assert list(import_body) == ["multipart/form-data"]
    assert "InputRequest" not in schema["components"]["schemas"]


def test_a_path_no_api_route_matches_answers_the_json_error_body(api_client, client):
    response = api_client.get("/api/v1/items/-1/")
    page = client.get("/no-such-page/")

    assert response.status_code == 404
    assert response.json() == {
        "error": {"code": "not_found", "message": "Not found.", "details": {}}
    }
    assert page.status_code == 404
    assert page["Content-Type"].startswith("text/html")


@pytest.mark.parametrize("query", [{"limit": "abc"}, {"limit": "0"}, {"offset": "-1"}])
def test_a_bad_page_parameter_is_a_400_not_the_default_page(operator_api, query):
    response = operator_api.get("/api/v1/raters/", query)

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid"
    assert list(response.json()["error"]["details"]) == list(query)
