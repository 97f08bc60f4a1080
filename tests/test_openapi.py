"""The OpenAPI schema matches the running API: every endpoint documented, responses conform."""

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
