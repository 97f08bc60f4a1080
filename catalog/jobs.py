"""What every worker job row (imports, training runs) shares: a heartbeat the reaper watches.

A job beats from a thread while it works, so a long step (an epoch, a merge of millions of
rows) never looks like a dead worker; a job whose beats stop for :data:`STALE_AFTER` lost its
worker (killed, out of memory, restarted) and is marked failed by the periodic reaper.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

from django.conf import settings
from django.db import DatabaseError, connection
from django.db.models import Model, QuerySet
from django.utils import timezone

logger = logging.getLogger(__name__)

STALE_AFTER = timedelta(minutes=5)  # no heartbeat for this long: the worker is gone


@contextmanager
def heartbeat(model: type[Model], pk: int) -> Iterator[None]:
    """Set ``heartbeat_at`` of the row every ``RECSITE_HEARTBEAT_SECONDS`` until the block ends."""
    stop = threading.Event()

    def beat() -> None:
        try:
            while not stop.wait(settings.RECSITE_HEARTBEAT_SECONDS):
                try:
                    model.objects.filter(pk=pk).update(heartbeat_at=timezone.now())
                except DatabaseError:
                    # SQLite refuses writes while the job's own transaction holds the file
                    # (a long merge); the next beat after it commits gets through.
                    logger.debug("heartbeat of %s %s skipped", model.__name__, pk, exc_info=True)
        finally:
            connection.close()  # the thread's own connection

    thread = threading.Thread(target=beat, name=f"heartbeat-{model.__name__}-{pk}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def stale_fail(running: QuerySet, *, older_than: timedelta, message_field: str, advice: str) -> int:
    """Mark the ``running`` jobs whose last beat is older than ``older_than`` as failed,
    saying so in ``message_field``; returns how many."""
    cutoff = timezone.now() - older_than
    return running.filter(heartbeat_at__lt=cutoff).update(
        status="failed",
        finished_at=timezone.now(),
        phase="",
        **{
            message_field: f"Worker lost: no heartbeat since before {cutoff:%Y-%m-%d %H:%M:%S} "
            f"UTC (killed, out of memory or restarted). {advice}"
        },
    )
