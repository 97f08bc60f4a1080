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

import hashlib
import secrets

from django.core.cache import cache
from django.db import transaction

SHARED_KEY = "recsite:stamp:shared"
#: Stamps never expire on their own: an expired stamp would only cost a recomputation.
STAMP_TIMEOUT = None


def rater_key(external_id: str) -> str:
    # By external id, the name requests use: a cached list is found without a database query.
    # Renaming or erasing a rater renews the stamp, so an old name's lists are never served.
    return (
        f"recsite:stamp:rater:{hashlib.blake2b(external_id.encode(), digest_size=12).hexdigest()}"
    )


def mark_rater_changed(external_id: str) -> None:
    """The rater's interactions, attributes or name changed, or the rater was erased."""
    _renew(rater_key(external_id))


def mark_all_changed() -> None:
    """Shared data changed: items, an import, the active model or the policy."""
    _renew(SHARED_KEY)


def _renew(key: str) -> None:
    cache.set(key, _token(), STAMP_TIMEOUT)
    if transaction.get_connection().in_atomic_block:
        transaction.on_commit(lambda: cache.set(key, _token(), STAMP_TIMEOUT))


def current_stamps(external_id: str, *extra_keys: str) -> tuple[str, str, dict[str, object]]:
    """The shared and rater stamps (new ones where missing), plus ``extra_keys`` read in the
    same cache round trip."""
    key = rater_key(external_id)
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
