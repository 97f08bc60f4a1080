"""Served lists cached per rater and request, valid while the data they came from is unchanged.

Scoring a list is a handful of queries and some arithmetic; serving the same list again is one
cache round trip. An entry records the stamps of ``catalog.freshness`` it was computed under
and is used only while both still hold, so a rater's new rating, an import, an item edit, an
activation or a policy change retires it at once. ``RECSITE_LIST_CACHE_SECONDS`` bounds what
the stamps do not track (other raters' ratings moving the popularity fallback); 0 turns the
cache off.
"""

from __future__ import annotations

import hashlib
from collections.abc import Hashable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.cache import cache

from catalog import freshness


@dataclass(frozen=True)
class Lookup:
    """What a lookup found: the stamps to store a recomputed list under, and the list (with
    its rater's primary key) if one is still valid."""

    key: str
    stamps: tuple[str, str]
    rater_pk: int | None = None
    payload: Any | None = None


def enabled() -> bool:
    return settings.RECSITE_LIST_CACHE_SECONDS > 0


def lookup(external_id: str, request: tuple[Hashable, ...]) -> Lookup:
    """The cached payload for ``request`` (n, offset, filters, ...) of the rater named
    ``external_id``, if still valid; one cache round trip reads it with both stamps."""
    digest = hashlib.blake2b(repr((external_id, request)).encode(), digest_size=16).hexdigest()
    key = f"recsite:list:{digest}"
    shared, mine, found = freshness.current_stamps(external_id, key)
    entry = found.get(key)
    if isinstance(entry, tuple) and len(entry) == 4 and entry[:2] == (shared, mine):
        return Lookup(key, (shared, mine), entry[2], entry[3])
    return Lookup(key, (shared, mine))


def store(found: Lookup, rater_pk: int, payload: Any) -> None:
    """Keep ``payload`` under the stamps read *before* it was computed: if the data changed
    meanwhile, the stamps moved on and the entry is never used."""
    entry = (*found.stamps, rater_pk, payload)
    cache.set(found.key, entry, settings.RECSITE_LIST_CACHE_SECONDS)
