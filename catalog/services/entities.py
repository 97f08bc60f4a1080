"""Items and raters: changes from the API, and erasing a rater."""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from catalog import freshness
from catalog.models import Item, Rater

logger = logging.getLogger(__name__)


def item_upsert(*, external_id: str, **fields: Any) -> tuple[Item, bool]:
    """Create an item or update the one with this external id; returns (item, created)."""
    item, created = Item.objects.update_or_create(external_id=external_id, defaults=fields)
    freshness.mark_all_changed()
    return item, created


def item_update(*, item: Item, **fields: Any) -> Item:
    """Change the given fields of an item.

    Raises Django's ValidationError keyed by field when the new external id names another
    item; the API's exception handler turns it into the usual error body.
    """
    external_id = fields.get("external_id")
    taken = ValidationError({"external_id": [f"{external_id!r} names another item"]})
    if external_id is not None and (
        Item.objects.filter(external_id=external_id).exclude(pk=item.pk).exists()
    ):
        raise taken
    for field, value in fields.items():
        setattr(item, field, value)
    try:
        with transaction.atomic():
            item.save()
    except IntegrityError as exc:  # another request took the id between the check and the save
        raise taken from exc
    freshness.mark_all_changed()
    return item


def item_delete(*, item: Item) -> None:
    """Delete an item with its interactions; every cached list that showed it is retired."""
    item.delete()
    freshness.mark_all_changed()


# --- Raters ------------------------------------------------------------------------------------


def rater_upsert(*, external_id: str, attributes: dict[str, Any]) -> tuple[Rater, bool]:
    """Create a rater or replace the attributes of the one with this external id."""
    rater, created = Rater.objects.update_or_create(
        external_id=external_id, defaults={"attributes": attributes}
    )
    freshness.mark_rater_changed(external_id)  # attributes choose a new rater's list
    return rater, created


def rater_update(
    *, rater: Rater, external_id: str | None = None, attributes: dict[str, Any] | None = None
) -> Rater:
    """Rename a rater (its external id) and/or replace its attributes; None leaves a field alone.

    Raises Django's ValidationError keyed by field when the new external id is blank or names
    another rater; the API's exception handler turns it into the usual error body.
    """
    old_name = rater.external_id
    if external_id is not None:
        external_id = external_id.strip()
        if not external_id:
            raise ValidationError({"external_id": ["an external id cannot be blank"]})
        if Rater.objects.filter(external_id=external_id).exclude(pk=rater.pk).exists():
            raise ValidationError({"external_id": [f"{external_id!r} names another rater"]})
        rater.external_id = external_id
    if attributes is not None:
        rater.attributes = attributes
    try:
        with transaction.atomic():
            rater.save(update_fields=["external_id", "attributes"])
            freshness.mark_rater_changed(old_name)
            freshness.mark_rater_changed(rater.external_id)
    except IntegrityError as exc:  # another request took the id between the check and the save
        raise ValidationError({"external_id": [f"{external_id!r} names another rater"]}) from exc
    return rater


# --- Erasure ------------------------------------------------------------------------------------


def rater_erase(*, rater: Rater, delete_account: bool = True) -> None:
    """Delete a rater's interactions, precomputed lists and row (and their site account).

    Models trained before keep what they learnt until the next training, which no longer sees
    this rater; serving stops at once because the rater and their lists are gone.
    """
    user = rater.user
    with transaction.atomic():
        freshness.mark_rater_changed(rater.external_id)
        rater.delete()  # cascades to interactions and recommendation snapshots
        if delete_account and user is not None:
            user.delete()
    logger.info("erased rater %s", rater.pk)
