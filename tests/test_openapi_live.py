"""Schemathesis drives every documented operation of the running API and checks the answers."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
import schemathesis
from django.core import signals
from django.db import close_old_connections
from hypothesis import HealthCheck, Phase, settings
from schemathesis import checks

from catalog.services import api_key_create
from recommender import services
from recsite.wsgi import application

schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", application)
# Bounded for the everyday suite: few examples per operation, derandomized (below), and
# Schemathesis's exhaustive "coverage" phase (every boundary and every wrong method, about a
# minute more) only on request: RECSITE_SCHEMATHESIS_COVERAGE=1.
schema.config.phases.coverage.enabled = os.environ.get("RECSITE_SCHEMATHESIS_COVERAGE") == "1"


@pytest.fixture(autouse=True)
def connections_kept_open() -> Iterator[None]:
    """As Django's test client does: the test's transaction must outlive each request."""
    for signal in (signals.request_started, signals.request_finished):
        signal.disconnect(close_old_connections)
    yield
    for signal in (signals.request_started, signals.request_finished):
        signal.connect(close_old_connections)


@pytest.fixture
def operator_key(two_taste_catalog, django_capture_on_commit_callbacks) -> str:
    """A key with every scope, over a small catalog with an active model to serve from."""
    run = services.training_run_create(algorithm="popularity", enqueue=False)
    services.training_run_execute(run_id=run.pk)
    run.refresh_from_db()
    with django_capture_on_commit_callbacks(execute=True):
        services.training_run_activate(run=run)
    _, raw = api_key_create(name="schemathesis", scopes=["read", "manage", "feedback"])
    return raw


@pytest.mark.django_db
@schema.parametrize()
@settings(
    max_examples=5,
    derandomize=True,
    deadline=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)
def test_the_api_answers_as_its_schema_says(case, operator_key):
    # Not run: negative_data_rejection (DRF coerces 0 to "0" for a string field and reads a
    # blank query parameter as absent, both on purpose) and positive_data_acceptance (a
    # schema-valid event can name an unknown item: 400 with the error body, as documented).
    case.call_and_validate(
        headers={"Authorization": f"Api-Key {operator_key}"},
        excluded_checks=[checks.negative_data_rejection, checks.positive_data_acceptance],
    )
