"""Record which recommendations were actually served, for the online feedback rate."""

from __future__ import annotations

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
    return RecommendationImpression.objects.create(
        rater=rater,
        run_id=result.run_id,
        item_ids=[recommendation.item.pk for recommendation in result.items],
        strategy=result.strategy,
        surface=surface,
        served_at=timezone.now(),
    )
