"""API throttling counts in a cache every process shares, so a key's rate holds across workers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.urls import reverse

from catalog.authentication import ApiKeyRateThrottle
from catalog.services import api_key_create

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parent.parent

# Another process (a second gunicorn worker, say): it loads the settings from the environment
# and lets ``count`` requests of one key through the real throttle at the given rate.
OTHER_PROCESS = """
import json, sys
import django
django.setup()
from django.conf import settings
from catalog.authentication import ApiKeyRateThrottle
from catalog.models import ApiKey

prefix, rate, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
ApiKeyRateThrottle.THROTTLE_RATES = {"api_key": rate}
request = type("Request", (), {"auth": ApiKey(prefix=prefix), "user": None, "META": {}})()
allowed = [ApiKeyRateThrottle().allow_request(request, None) for _ in range(count)]
print(json.dumps({"cache": settings.CACHES["default"], "allowed": allowed}))
"""


def other_process(env: dict[str, str], *args: str) -> dict:
    result = subprocess.run(
        [sys.executable, "-c", OTHER_PROCESS, *args],
        cwd=ROOT,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "recsite.settings", **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def settings_cache(env: dict[str, str]) -> dict:
    return other_process(env, "none", "1/min", "0")["cache"]


def test_with_nothing_configured_the_cache_is_files_under_var(tmp_path):
    env = {"RECSITE_VAR_DIR": str(tmp_path), "CACHE_URL": "", "REDIS_URL": ""}

    cache = settings_cache(env)

    assert cache["BACKEND"] == "django.core.cache.backends.filebased.FileBasedCache"
    assert cache["LOCATION"] == str(tmp_path / "cache")


@pytest.mark.parametrize("variable", ["CACHE_URL", "REDIS_URL"])
def test_a_redis_url_selects_djangos_redis_cache(tmp_path, variable):
    env = {"RECSITE_VAR_DIR": str(tmp_path), "CACHE_URL": "", "REDIS_URL": ""}
    env[variable] = "redis://cache.example:6379/3"

    cache = settings_cache(env)

    assert cache == {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": "redis://cache.example:6379/3",
    }


def redis_url() -> str | None:
    broker = django_settings.CELERY_BROKER_URL
    return broker if broker.startswith("redis://") else None


@pytest.fixture(params=["files", "redis"])
def shared_cache(request, settings, tmp_path) -> dict[str, str]:
    """Point this process and the other one at the same cache; the other's environment."""
    if request.param == "files":
        env = {"RECSITE_VAR_DIR": str(tmp_path), "CACHE_URL": "", "REDIS_URL": ""}
        backend, location = "filebased.FileBasedCache", str(tmp_path / "cache")
    else:
        if redis_url() is None:
            pytest.skip("needs the Redis broker (CELERY_BROKER_URL=redis://...)")
        env = {"RECSITE_VAR_DIR": str(tmp_path), "CACHE_URL": redis_url(), "REDIS_URL": ""}
        backend, location = "redis.RedisCache", redis_url()
    settings.CACHES = {
        "default": {"BACKEND": f"django.core.cache.backends.{backend}", "LOCATION": location}
    }
    return env


def test_requests_counted_in_another_process_throttle_this_one(
    shared_cache, api_client, monkeypatch
):
    key, raw = api_key_create(name="t", scopes=["manage"])
    monkeypatch.setattr(ApiKeyRateThrottle, "THROTTLE_RATES", {"api_key": "3/min"})
    api_client.credentials(HTTP_AUTHORIZATION=f"Api-Key {raw}")
    url = reverse("api-rater-list")

    assert api_client.get(url).status_code == 200  # one request here...
    other = other_process(shared_cache, key.prefix, "3/min", "3")  # ...three there
    response = api_client.get(url)  # the fifth of a 3/min key

    assert other["allowed"] == [True, True, False]
    assert response.status_code == 429
    error = response.json()["error"]
    assert error["code"] == "throttled"
    assert error["message"].startswith("Request was throttled.")
    assert int(response["Retry-After"]) > 0


def test_keys_are_counted_apart(shared_cache, api_client, monkeypatch):
    busy, _ = api_key_create(name="busy", scopes=["manage"])
    _, raw = api_key_create(name="quiet", scopes=["manage"])
    monkeypatch.setattr(ApiKeyRateThrottle, "THROTTLE_RATES", {"api_key": "2/min"})
    other_process(shared_cache, busy.prefix, "2/min", "2")
    api_client.credentials(HTTP_AUTHORIZATION=f"Api-Key {raw}")

    assert api_client.get(reverse("api-rater-list")).status_code == 200
