"""Shared fixtures: people, clients, isolated media, eager Celery, and a real worker."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from catalog.models import Interaction, Item, Rater
from catalog.permissions import operators_group
from recommender.services.impressions import impressions_discard
from recsite.celery import app as celery_app

DATA_DIR = Path(__file__).parent / "data"


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path: Path) -> Path:
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


@pytest.fixture(autouse=True)
def cache_dir(settings, tmp_path: Path) -> Path:
    """A cache of the test's own: the default one lives in var/cache, shared across runs."""
    location = tmp_path / "cache"
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(location),
        }
    }
    return location


@pytest.fixture(autouse=True)
def impressions_at_once(settings) -> Iterator[None]:
    """Each served list is written when served (production batches them; see its tests)."""
    settings.RECSITE_IMPRESSION_BATCH = 1
    yield
    impressions_discard()  # a test that batched leaves nothing for the next one


@pytest.fixture(autouse=True)
def eager_celery(request: pytest.FixtureRequest) -> Iterator[None]:
    """Unit tests run tasks in-process; tests marked ``integration`` use the real worker."""
    if request.node.get_closest_marker("integration"):
        yield
        return
    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = False


@pytest.fixture
def operator(django_user_model):
    user = django_user_model.objects.create_user(username="olivia", password="operator-pw-123")
    user.groups.add(operators_group())
    return user


@pytest.fixture
def end_user(django_user_model):
    return django_user_model.objects.create_user(username="eve", password="end-user-pw-123")


@pytest.fixture
def operator_client(client, operator):
    client.force_login(operator)
    return client


@pytest.fixture
def end_user_client(client, end_user):
    client.force_login(end_user)
    return client


@pytest.fixture
def api_client() -> APIClient:
    return APIClient()


@pytest.fixture
def operator_api(api_client: APIClient, operator) -> APIClient:
    api_client.force_authenticate(operator)
    return api_client


@pytest.fixture
def celery_worker(transactional_db) -> Iterator[object]:
    """A real Celery worker thread consuming from the configured broker (Redis in CI)."""
    from celery.contrib.testing.worker import start_worker

    celery_app.conf.task_always_eager = False
    with start_worker(
        celery_app,
        pool="solo",
        queues=["default", "training"],
        perform_ping_check=False,
        shutdown_timeout=30,
    ) as worker:
        yield worker


@pytest.fixture
def data_file() -> object:
    def path(name: str) -> Path:
        return DATA_DIR / name

    return path


@pytest.fixture
def two_taste_catalog(db):  # noqa: ARG001 - needs the database
    """Two taste groups of 12 raters over 8 items each; every rater misses one item of their group.

    Rater r of group g has rated every group-g item except item (r mod 8): that item is the right
    answer for them, so a working model ranks it first.
    """
    items = [Item.objects.create(external_id=f"i{n}", title=f"Item {n}") for n in range(16)]
    now = timezone.now()
    rows = []
    for group in range(2):
        for r in range(12):
            rater = Rater.objects.create(external_id=f"g{group}r{r}")
            for n in range(8):
                if n == r % 8:
                    continue
                rows.append(
                    Interaction(
                        rater=rater, item=items[group * 8 + n], value=4 + (n % 2), occurred_at=now
                    )
                )
    Interaction.objects.bulk_create(rows)
    return items
