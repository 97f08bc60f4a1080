"""Reads for the catalog: lists, searches and the aggregates behind the dataset overview."""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd
from django.conf import settings
from django.db.models import Count, Q, QuerySet
from django.db.models.functions import TruncDay

from catalog.models import DataImport, Interaction, Item, Rater


def item_list(*, search: str = "", genre: str = "") -> QuerySet[Item]:
    items = Item.objects.all()
    if search:
        items = items.filter(Q(title__icontains=search) | Q(external_id__iexact=search))
    if genre:
        items = (
            items.filter(genres__contains=[genre])
            if _json_contains()
            else items.filter(genres__icontains=f'"{genre}"')
        )
    return items.order_by("title", "id")


def _json_contains() -> bool:
    from django.db import connection

    return connection.vendor == "postgresql"


def item_get(*, item_id: int) -> Item:
    return Item.objects.get(pk=item_id)


def data_import_list() -> QuerySet[DataImport]:
    return DataImport.objects.select_related("uploaded_by").order_by("-created_at", "-id")


def data_import_get(*, import_id: int) -> DataImport:
    return DataImport.objects.get(pk=import_id)


def ratings_frame() -> pd.DataFrame:
    """Every interaction as a DataFrame: rater_id, item_id, event_type, value, occurred_at."""
    rows = Interaction.objects.values_list(
        "rater_id", "item_id", "event_type", "value", "occurred_at"
    )
    return pd.DataFrame.from_records(
        rows.iterator(chunk_size=50_000),
        columns=["rater_id", "item_id", "event_type", "value", "occurred_at"],
    )


def item_content_frame() -> pd.DataFrame:
    """Every item's title, description and genres, indexed by item key as a string.

    This is the item side of the data that content and attribute models learn from; the keys
    match the item ids of :func:`ratings_frame` as the ML core sees them.
    """
    rows = Item.objects.values_list("pk", "title", "description", "genres")
    frame = pd.DataFrame.from_records(
        rows.iterator(chunk_size=50_000), columns=["pk", "title", "description", "genres"]
    )
    frame["genres"] = frame["genres"].map(lambda value: value if isinstance(value, list) else [])
    return frame.set_index(frame.pop("pk").astype(str))


def rater_attributes_frame() -> pd.DataFrame | None:
    """Each rater's attributes (age, gender, occupation, …) as columns, indexed by rater key.

    None when no rater has any. A rater without a value has NaN there ("unknown").
    """
    rows = Rater.objects.exclude(attributes={}).values_list("pk", "attributes")
    records = {str(pk): attributes for pk, attributes in rows.iterator(chunk_size=50_000)}
    return attributes_table(records) if records else None


def attributes_table(records: dict[str, dict]) -> pd.DataFrame:
    """Attribute dicts keyed by rater key → one column per attribute, numbers as numbers."""
    frame = pd.DataFrame.from_dict(records, orient="index")
    # Only scalars describe a rater (a nested list or object from the API is no category).
    frame = frame.map(lambda v: v if isinstance(v, str | int | float | bool) else None)
    # Numbers imported as text (e.g. "24") stay comparable: convert columns that are all numeric.
    for column in frame.columns:
        numeric = pd.to_numeric(frame[column], errors="coerce")
        if numeric.notna().sum() == frame[column].notna().sum():
            frame[column] = numeric
    return frame


@dataclass
class DatasetOverview:
    items: int
    raters: int
    interactions: int
    sparsity: float
    value_counts: pd.DataFrame  # value, count (ratings only)
    item_counts: pd.Series  # interactions per item, descending
    rater_counts: pd.Series  # interactions per rater
    daily: pd.DataFrame  # day, source, count
    items_never_rated: int
    warnings: list[str] = field(default_factory=list)


def dataset_overview() -> DatasetOverview:
    """Aggregates over the whole catalog, computed in the database (no row-level load)."""
    items = Item.objects.count()
    raters = Rater.objects.count()
    interactions = Interaction.objects.count()
    value_counts = pd.DataFrame.from_records(
        Interaction.objects.filter(event_type=Interaction.EventType.RATING)
        .values("value")
        .annotate(count=Count("id"))
        .order_by("value"),
        columns=["value", "count"],
    )
    item_counts = pd.Series(
        list(
            Interaction.objects.values("item").annotate(n=Count("id")).values_list("n", flat=True)
        ),
        dtype="int64",
    ).sort_values(ascending=False, ignore_index=True)
    rater_counts = pd.Series(
        list(
            Interaction.objects.values("rater").annotate(n=Count("id")).values_list("n", flat=True)
        ),
        dtype="int64",
    )
    daily = pd.DataFrame.from_records(
        Interaction.objects.annotate(day=TruncDay("occurred_at"))
        .values("day", "source")
        .annotate(count=Count("id"))
        .order_by("day"),
        columns=["day", "source", "count"],
    )
    cells = items * raters
    overview = DatasetOverview(
        items=items,
        raters=raters,
        interactions=interactions,
        sparsity=1 - interactions / cells if cells else 1.0,
        value_counts=value_counts,
        item_counts=item_counts,
        rater_counts=rater_counts,
        daily=daily,
        items_never_rated=items - len(item_counts),
    )
    overview.warnings = _quality_warnings(overview)
    return overview


def _quality_warnings(overview: DatasetOverview) -> list[str]:
    warnings = []
    minimum = settings.RECSITE_MIN_INTERACTIONS_PER_RATER
    if overview.interactions < 1000:
        warnings.append(
            f"Only {overview.interactions:,} interactions: too little data to train a useful "
            "model (aim for thousands). Import more data or load the demo catalog."
        )
    light = int((overview.rater_counts < minimum).sum())
    if light:
        warnings.append(
            f"{light:,} raters have fewer than {minimum} interactions; they are cold-start "
            "raters and get popularity-based lists."
        )
    if overview.items_never_rated:
        warnings.append(
            f"{overview.items_never_rated:,} items have never been rated; only content-based "
            "models can recommend them."
        )
    return warnings


def rater_interactions(*, rater: Rater) -> QuerySet[Interaction]:
    return (
        Interaction.objects.filter(rater=rater)
        .select_related("item")
        .order_by("-occurred_at", "-id")
    )


def rater_ratings_by_item(*, rater: Rater | None) -> dict[int, Interaction]:
    """The rater's current interactions keyed by item id (for rating widgets)."""
    if rater is None:
        return {}
    return {i.item_id: i for i in Interaction.objects.filter(rater=rater)}


def genre_list() -> list[str]:
    """Every genre used in the catalog, sorted."""
    genres: set[str] = set()
    for values in Item.objects.values_list("genres", flat=True).iterator(chunk_size=5000):
        genres.update(values or [])
    return sorted(genres)


def onboarding_items(*, n: int = 12, pool: int = 100) -> list[Item]:
    """Popular items that cover many genres: greedy over the ``pool`` most popular."""
    popular_ids = list(
        Interaction.objects.values("item_id")
        .annotate(count=Count("id"))
        .order_by("-count", "item_id")
        .values_list("item_id", flat=True)[:pool]
    )
    items = Item.objects.in_bulk(popular_ids)
    candidates = [items[pk] for pk in popular_ids if pk in items]
    chosen: list[Item] = []
    covered: set[str] = set()
    while candidates and len(chosen) < n:
        # The most popular item that adds a genre not yet covered; else the most popular left.
        best = next((i for i in candidates if set(i.genres or []) - covered), candidates[0])
        chosen.append(best)
        covered.update(best.genres or [])
        candidates.remove(best)
    return chosen
