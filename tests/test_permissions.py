"""Every operator page and every non-public API refuses anonymous visitors and end users.

The URLs come from the resolver, so a page or endpoint added later is covered without a new
line here; only the public and end-user ones are listed, by name.
"""

from __future__ import annotations

import pytest
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db

#: API endpoints anyone may call, and the one an end user's star widget calls.
PUBLIC_APIS = {"api-item-list", "api-item-detail", "api-health", "api-schema", "api-docs"}
END_USER_APIS = {"api-my-rating"}
METHODS = ("get", "post", "patch", "delete")


def named_urls() -> list[tuple[str, str]]:
    """(name with namespace, path with placeholder arguments) of every named URL pattern."""
    found: list[tuple[str, str]] = []

    def walk(patterns: list, namespace: str) -> None:
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                if pattern.namespace == "admin":
                    continue  # Django's admin checks is_staff itself
                inner = f"{namespace}{pattern.namespace}:" if pattern.namespace else namespace
                walk(pattern.url_patterns, inner)
            elif isinstance(pattern, URLPattern) and pattern.name:
                converters = pattern.pattern.converters
                kwargs = {
                    key: 1 if type(conv).__name__ == "IntConverter" else "x"
                    for key, conv in converters.items()
                }
                name = f"{namespace}{pattern.name}"
                found.append((name, reverse(name, kwargs=kwargs)))

    walk(get_resolver().url_patterns, "")
    return found


OPERATOR_PAGES = [(n, p) for n, p in named_urls() if p.startswith("/operator/")]
PROTECTED_APIS = [
    (n, p)
    for n, p in named_urls()
    if p.startswith("/api/") and n not in PUBLIC_APIS | END_USER_APIS
]


def test_the_walk_finds_the_known_pages():
    names = {name for name, _ in OPERATOR_PAGES + PROTECTED_APIS}
    assert {"recommender:overview", "catalog:data-import-upload", "api-run-list"} <= names
    assert len(OPERATOR_PAGES) >= 20


def _statuses(client, path: str) -> dict[str, int]:
    return {method: getattr(client, method)(path).status_code for method in METHODS}


@pytest.mark.parametrize(("name", "path"), OPERATOR_PAGES, ids=[n for n, _ in OPERATOR_PAGES])
def test_operator_pages_refuse_visitors_and_end_users(client, end_user, name, path):
    anonymous = {method: getattr(client, method)(path) for method in METHODS}
    for response in anonymous.values():
        assert response.status_code in (302, 405), name
        if response.status_code == 302:
            assert response["Location"].startswith(reverse("login")), name
    client.force_login(end_user)
    signed_in = _statuses(client, path)

    assert set(signed_in.values()) <= {403, 405}, (name, signed_in)
    assert 403 in signed_in.values(), f"{name}: no method reached the permission check"


@pytest.mark.parametrize(("name", "path"), PROTECTED_APIS, ids=[n for n, _ in PROTECTED_APIS])
def test_apis_refuse_visitors_and_end_users(end_user, name, path):
    api = APIClient()
    anonymous = _statuses(api, path)
    api.force_authenticate(end_user)
    signed_in = _statuses(api, path)

    assert set(anonymous.values()) <= {401, 403, 405}, (name, anonymous)
    assert set(signed_in.values()) <= {403, 405}, (name, signed_in)
    assert 403 in signed_in.values(), f"{name}: no method reached the permission check"
