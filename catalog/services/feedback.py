"""Ratings and other events from the site and the API."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from catalog import freshness
from catalog.models import Interaction, Item, Rater
from catalog.services.imports import ImportValidationError


def rater_for_user(*, user: AbstractBaseUser) -> Rater:
    """The rater row of a site account, created on first use."""
    # Site accounts get an external id too, so every rater can be named the same way in the API.
    rater, _ = Rater.objects.get_or_create(user=user, defaults={"external_id": f"site:{user.pk}"})
    return rater


def interaction_record(
    *,
    rater: Rater,
    item: Item,
    value: float,
    event_type: str = Interaction.EventType.RATING,
    source: str = Interaction.Source.SITE,
    occurred_at: Any = None,
) -> Interaction:
    """Record (or replace) a rater's current value for an item and event type."""
    if event_type == Interaction.EventType.RATING and not (
        settings.RECSITE_RATING_MIN <= value <= settings.RECSITE_RATING_MAX
    ):
        raise ImportValidationError(
            f"rating {value} is outside the scale {settings.RECSITE_RATING_MIN:g}–"
            f"{settings.RECSITE_RATING_MAX:g}",
            field="value",
        )
    interaction, _ = Interaction.objects.update_or_create(
        rater=rater,
        item=item,
        event_type=event_type,
        defaults={"value": value, "source": source, "occurred_at": occurred_at or timezone.now()},
    )
    freshness.mark_rater_changed(rater.external_id)
    return interaction


#: The site's rating widget keeps one answer per item: a star rating or "not interested".
WIDGET_EVENT_TYPES = (Interaction.EventType.RATING, Interaction.EventType.NOT_INTERESTED)


def my_rating_set(
    *, rater: Rater, item: Item, value: float, event_type: str = Interaction.EventType.RATING
) -> Interaction:
    """Record the widget's answer and drop the other one (stars then "not interested", or back)."""
    with transaction.atomic():
        interaction = interaction_record(rater=rater, item=item, value=value, event_type=event_type)
        Interaction.objects.filter(
            rater=rater, item=item, event_type__in=WIDGET_EVENT_TYPES
        ).exclude(pk=interaction.pk).delete()
    return interaction


def my_rating_remove(*, rater: Rater, item_id: int) -> None:
    """Remove the rater's every interaction with the item (the widget's "remove")."""
    Interaction.objects.filter(rater=rater, item_id=item_id).delete()
    freshness.mark_rater_changed(rater.external_id)


# --- Feedback events ---------------------------------------------------------------------------


class FeedbackError(Exception):
    """A feedback event is invalid; ``index`` is its position in a batch, ``field`` the field."""

    def __init__(self, message: str, *, index: int | None = None, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.index = index
        self.field = field


def feedback_record_many(
    *, events: list[dict[str, Any]], source: str = Interaction.Source.API
) -> list[Interaction]:
    """Record a batch of events all-or-nothing; raters are created on their first event.

    Each event: ``rater`` and ``item`` (external ids), ``event_type`` (default rating),
    ``value`` (required for ratings, default 1), optional ``occurred_at``.
    """
    item_ids = {str(e.get("item")) for e in events}
    items = {i.external_id: i for i in Item.objects.filter(external_id__in=item_ids)}
    for index, event in enumerate(events):
        _check_event(event, items, index)
    with transaction.atomic():
        raters = {}
        for external_id in {str(e["rater"]) for e in events}:
            raters[external_id], _ = Rater.objects.get_or_create(external_id=external_id)
        return [
            interaction_record(
                rater=raters[str(e["rater"])],
                item=items[str(e["item"])],
                value=float(e.get("value", 1.0)),
                event_type=e.get("event_type", Interaction.EventType.RATING),
                source=source,
                occurred_at=e.get("occurred_at"),
            )
            for e in events
        ]


def _check_event(event: dict[str, Any], items: dict[str, Item], index: int) -> None:
    event_type = event.get("event_type", Interaction.EventType.RATING)
    if event_type not in Interaction.EventType.values:
        allowed = ", ".join(Interaction.EventType.values)
        raise FeedbackError(
            f"unknown event type {event_type!r}; allowed: {allowed}",
            index=index,
            field="event_type",
        )
    if str(event.get("item")) not in items:
        raise FeedbackError(f"unknown item {event.get('item')!r}", index=index, field="item")
    value = event.get("value")
    if event_type == Interaction.EventType.RATING:
        if value is None:
            raise FeedbackError("a rating needs a value", index=index, field="value")
        if not settings.RECSITE_RATING_MIN <= float(value) <= settings.RECSITE_RATING_MAX:
            raise FeedbackError(
                f"rating {value} is outside the scale {settings.RECSITE_RATING_MIN:g}–"
                f"{settings.RECSITE_RATING_MAX:g}",
                index=index,
                field="value",
            )
