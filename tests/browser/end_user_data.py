"""A small synthetic catalog with genres and an active trained run, for the end-user browser tests.

Three genres of 12 items each (36 items: two catalog pages of 30); ten raters per genre, each
rating 8 of their genre's 12 items, so an item-kNN model recommends within a genre.
"""

from __future__ import annotations

from datetime import timedelta

from django.contrib.auth import get_user_model
from django.utils import timezone

from catalog.models import Interaction, Item, Rater
from recommender import services
from recommender.models import TrainingRun
from tests.recommender.helpers import launch

GENRES = ("Comedy", "Drama", "Sci-Fi")
ITEMS_PER_GENRE = 12
RATERS_PER_GENRE = 10
PHONE = {"width": 390, "height": 844}


def genre_catalog() -> dict[str, list[Item]]:
    """Items titled "<Genre> Tale NN", each in one genre, rated within their genre."""
    by_genre = {
        genre: [
            Item.objects.create(
                external_id=f"{genre.lower()}-{n}", title=f"{genre} Tale {n:02d}", genres=[genre]
            )
            for n in range(ITEMS_PER_GENRE)
        ]
        for genre in GENRES
    }
    when = timezone.now() - timedelta(days=3)
    rows = []
    for genre, items in by_genre.items():
        for r in range(RATERS_PER_GENRE):
            rater = Rater.objects.create(external_id=f"{genre.lower()}-r{r}")
            rows += [
                Interaction(
                    rater=rater,
                    item=items[(r + k) % ITEMS_PER_GENRE],
                    value=4 + k % 2,
                    occurred_at=when + timedelta(hours=k),
                )
                for k in range(8)
            ]
    Interaction.objects.bulk_create(rows)
    return by_genre


def active_itemknn_run() -> TrainingRun:
    """Train item-kNN on what is in the database now and serve it (precomputes every list)."""
    run = launch("itemknn")
    return services.training_run_activate(run=run)


def site_user_for_rater(external_id: str, username: str, password: str) -> Rater:
    """Give a dataset rater a site account, so their history and precomputed list are theirs."""
    user = get_user_model().objects.create_user(username=username, password=password)
    rater = Rater.objects.get(external_id=external_id)
    rater.user = user
    rater.save(update_fields=["user"])
    return rater


def has_no_horizontal_scroll(page) -> bool:
    return page.evaluate(
        "() => document.documentElement.scrollWidth <= document.documentElement.clientWidth"
    )
