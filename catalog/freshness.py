"""Version stamps of the data that served lists are computed from, kept in the shared cache.

A served list depends on the rater's own interactions and attributes (the *rater stamp*) and
on everything shared: the catalogue, imports, the active model, the serving policy (the
*shared stamp*). Every service that writes one of them marks it changed; a cached list is
used only while both stamps are the ones it was computed under, so a new rating shows in the
next list at once and no list outlives a retrain or an item edit.

Stamps are random tokens, not counters: setting a new one needs no atomic increment, and a
stamp lost from the cache (evicted, cache cleared) simply reads as changed. A stamp is
replaced twice: at once, so that reads later in the same transaction see the change, and
again after the writing transaction commits, because a concurrent request may have read the
first new stamp with the old rows meanwhile and cached that stale list under it.
"""

from __future__ import annotations

import secrets

from django.core.cache import cache
from django.db import transaction

SHARED_KEY = "recsite:stamp:shared"
#: Stamps never expire on their own: an expired stamp would only cost a recomputation.
STAMP_TIMEOUT = None


def rater_key(rater_pk: int) -> str:
    return f"recsite:stamp:rater:{int(rater_pk)}"


def mark_rater_changed(rater_pk: int) -> None:
    """The rater's interactions or attributes changed."""
    _renew(rater_key(rater_pk))


def mark_all_changed() -> None:
    """Shared data changed: items, an import, the active model or the policy."""
    _renew(SHARED_KEY)


def _renew(key: str) -> None:
    cache.set(key, _token(), STAMP_TIMEOUT)
    if transaction.get_connection().in_atomic_block:
        transaction.on_commit(lambda: cache.set(key, _token(), STAMP_TIMEOUT))


def current_stamps(rater_pk: int, *extra_keys: str) -> tuple[str, str, dict[str, object]]:
    """The shared and rater stamps (new ones where missing), plus ``extra_keys`` read in the
    same cache round trip."""
    key = rater_key(rater_pk)
    found = cache.get_many([SHARED_KEY, key, *extra_keys])
    shared = found.get(SHARED_KEY) or _start(SHARED_KEY)
    mine = found.get(key) or _start(key)
    return str(shared), str(mine), {k: found[k] for k in extra_keys if k in found}


def _start(key: str) -> str:
    """A first stamp; ``add`` keeps one that another process set meanwhile."""
    cache.add(key, _token(), STAMP_TIMEOUT)
    return str(cache.get(key))


def _token() -> str:
    return secrets.token_hex(8)
