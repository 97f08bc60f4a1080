"""API keys for other applications: create, revoke, authenticate."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import timedelta
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.utils import timezone

from catalog.services.imports import ImportValidationError

API_KEY_PREFIX_LENGTH = 8


def api_key_create(
    *, name: str, scopes: list[str], created_by: AbstractBaseUser | None = None
) -> tuple[Any, str]:
    """Create a key; the raw key is returned once and only its hash is stored."""
    from catalog.models import ApiKey

    unknown = set(scopes) - set(ApiKey.Scope.values)
    if not scopes or unknown:
        raise ImportValidationError(
            f"choose scopes among {', '.join(ApiKey.Scope.values)}", field="scopes"
        )
    prefix = secrets.token_hex(API_KEY_PREFIX_LENGTH // 2)
    raw = f"rs_{prefix}_{secrets.token_urlsafe(32)}"
    key = ApiKey.objects.create(
        name=name,
        prefix=prefix,
        key_hash=_hash_key(raw),
        scopes=sorted(set(scopes)),
        created_by=created_by,
    )
    return key, raw


def api_key_revoke(*, key: Any) -> None:
    type(key).objects.filter(pk=key.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())


def api_key_authenticate(*, raw: str) -> Any | None:
    """The active key matching ``raw``, or None."""
    from catalog.models import ApiKey

    parts = raw.split("_")
    if len(parts) < 3 or parts[0] != "rs":
        return None
    key = ApiKey.objects.filter(prefix=parts[1], revoked_at__isnull=True).first()
    if key is None or not hmac.compare_digest(key.key_hash, _hash_key(raw)):
        return None
    now = timezone.now()
    # One write a minute at most: a write per request would cost more than the request.
    if key.last_used_at is None or now - key.last_used_at > timedelta(minutes=1):
        ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
    return key


def _hash_key(raw: str) -> str:
    # Keys carry 256 random bits, so a fast hash is enough (no password stretching needed).
    return hashlib.sha256(raw.encode()).hexdigest()
