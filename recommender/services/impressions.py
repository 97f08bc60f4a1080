"""Record which recommendations were actually served, for the online feedback rate."""

from __future__ import annotations

from django.db import connection, transaction
from django.utils import timezone

from catalog.models import Rater
from recommender.models import RecommendationImpression
from recommender.serving import RecommendationList


def impression_record(
    *, rater: Rater, result: RecommendationList, surface: str
) -> RecommendationImpression | None:
    """Store one served list as one row (a single INSERT; nothing is written for an empty list).

    Called by the "for you" page and the recommendations API right after they serve ``result``.
    """
    if not result.items:
        return None
    with transaction.atomic():
        if connection.vendor == "postgresql":
            # A lost impression after a crash is acceptable; waiting for the WAL flush on
            # every served list is not (it was a quarter of the request).
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL synchronous_commit TO OFF")
        return _create(rater, result, surface)


def _create(rater: Rater, result: RecommendationList, surface: str) -> RecommendationImpression:
    return RecommendationImpression.objects.create(
        rater=rater,
        run_id=result.run_id,
        item_ids=[recommendation.item.pk for recommendation in result.items],
        strategy=result.strategy,
        surface=surface,
        served_at=timezone.now(),
    )
