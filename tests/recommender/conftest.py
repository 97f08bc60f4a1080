"""Catalog data with a known structure for training-run tests."""

from __future__ import annotations

import pytest
from django.utils import timezone

from catalog.models import Interaction, Item, Rater


@pytest.fixture
def two_taste_catalog(db):
    """Two taste groups of 12 raters over 8 items each; every rater misses one item of their group.

    Rater r of group g has rated every group-g item except item (r mod 8): that item is the right
    answer for them, so a working model ranks it first.
    """
    items = [Item.objects.create(external_id=f"i{n}", title=f"Item {n}") for n in range(16)]
    now = timezone.now()
    rows = []
    for group in range(2):
        for r in range(12):
            rater = Rater.objects.create(external_id=f"g{group}r{r}")
            for n in range(8):
                if n == r % 8:
                    continue
                rows.append(
                    Interaction(
                        rater=rater, item=items[group * 8 + n], value=4 + (n % 2), occurred_at=now
                    )
                )
    Interaction.objects.bulk_create(rows)
    return items
