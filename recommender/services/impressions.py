"""Record which recommendations were actually served, for the online feedback rate.

A served list is one row. Writing it inside the request cost as much as serving a cached list,
so each process keeps served lists in a small buffer and writes them in one INSERT when
``RECSITE_IMPRESSION_BATCH`` are waiting or the oldest has waited
``RECSITE_IMPRESSION_FLUSH_SECONDS`` (a timer thread sees to the latter when no further request
comes). The price: a process killed outright loses its last few seconds of impressions, which
only makes the feedback rate slightly less certain. With a batch of 1 every list is written at
once (the tests' setting).
"""

from __future__ import annotations

import atexit
import logging
import threading
import time

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from catalog.models import Rater
from recommender.models import RecommendationImpression, TrainingRun
from recommender.serving import RecommendationList

logger = logging.getLogger(__name__)

_pending: list[RecommendationImpression] = []
_lock = threading.Lock()
_oldest: float | None = None  # monotonic time the oldest pending row was served
_timer: threading.Timer | None = None


def impression_record(*, rater_id: int, result: RecommendationList, surface: str) -> None:
    """Note that ``result`` was served to rater ``rater_id`` on ``surface`` (nothing for an
    empty list).

    Called by the "for you" page and the recommendations API right after they serve it.
    """
    if not result.items:
        return
    row = RecommendationImpression(
        rater_id=rater_id,
        run_id=result.run_id,
        item_ids=[recommendation.item.pk for recommendation in result.items],
        strategy=result.strategy,
        surface=surface,
        served_at=timezone.now(),
    )
    global _oldest
    with _lock:
        _pending.append(row)
        _oldest = _oldest or time.monotonic()
        due = len(_pending) >= settings.RECSITE_IMPRESSION_BATCH or (
            time.monotonic() - _oldest >= settings.RECSITE_IMPRESSION_FLUSH_SECONDS
        )
        if not due:
            _start_timer()
    if due:
        impressions_flush()


def impressions_flush() -> int:
    """Write every pending impression of this process now; returns how many were written.

    Rows whose rater or run was deleted while they waited are dropped, not written.
    """
    rows = _take_pending()
    if not rows:
        return 0
    raters = set(
        Rater.objects.filter(pk__in={r.rater_id for r in rows}).values_list("pk", flat=True)
    )
    runs = set(
        TrainingRun.objects.filter(pk__in={r.run_id for r in rows if r.run_id}).values_list(
            "pk", flat=True
        )
    )
    rows = [r for r in rows if r.rater_id in raters and (r.run_id is None or r.run_id in runs)]
    try:
        with transaction.atomic():
            if connection.vendor == "postgresql":
                # A lost impression after a crash is acceptable; waiting for the WAL flush is not.
                with connection.cursor() as cursor:
                    cursor.execute("SET LOCAL synchronous_commit TO OFF")
            RecommendationImpression.objects.bulk_create(rows)
    except IntegrityError:  # a rater or run deleted since the check above: the batch is lost
        logger.warning("dropped %d impressions: a rater or run was deleted meanwhile", len(rows))
        return 0
    return len(rows)


def impressions_discard() -> int:
    """Forget this process's pending impressions without writing them (tests); returns how many."""
    return len(_take_pending())


def _take_pending() -> list[RecommendationImpression]:
    global _oldest, _timer
    with _lock:
        rows = list(_pending)
        _pending.clear()
        _oldest = None
        if _timer is not None and _timer is not threading.current_thread():
            _timer.cancel()  # nothing left for it to write
        _timer = None
    return rows


def _start_timer() -> None:
    """Flush after the flush interval even if no request comes (called with the lock held)."""
    global _timer
    if _timer is not None and _timer.is_alive():
        return
    _timer = threading.Timer(settings.RECSITE_IMPRESSION_FLUSH_SECONDS, _flush_in_thread)
    _timer.daemon = True
    _timer.start()


def _flush_in_thread() -> None:
    try:
        impressions_flush()
    except Exception:  # a failed write must not kill the thread silently or loop
        logger.exception("writing pending impressions failed")
    finally:
        connection.close()  # this thread's own connection


atexit.register(lambda: _pending and _flush_at_exit())


def _flush_at_exit() -> None:
    try:
        impressions_flush()
    except Exception:
        logger.exception("writing pending impressions at exit failed")
