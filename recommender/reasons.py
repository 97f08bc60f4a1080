"""Why an item is in a rater's list: the rater's liked items that point most to it.

One batched look at the model's own item relation per list (or, for models without one, at
co-occurrence in the data), so a list of 50 costs what a list of 5 does.
"""

from __future__ import annotations

import logging
from datetime import datetime

import numpy as np
import pandas as pd
import scipy.sparse as sp
from django.conf import settings
from django.db.models import Q

from catalog.models import Interaction, Item
from recommender import explain, model_cache
from recommender.models import TrainingRun
from recommender.pipeline import Signal

logger = logging.getLogger(__name__)

#: What raters like this one chose: the attribute model's list for a new rater with attributes,
#: or, with no model active, what raters who liked the same items liked. Served under the
#: public strategy "popularity"; the reasons and the explanation tell them apart.
SIMILAR_RATERS = "similar-raters"
#: Reasons name items among the rater's latest this many liked interactions.
REASON_HISTORY = 200
#: Without a model relation, co-occurrence is counted in the database over fewer of them.
REASON_COOCCURRENCE_HISTORY = 30
TITLE_FIELDS = ("id", "external_id", "title")


def item_reasons(
    strategy: str,
    run: TrainingRun | None,
    chosen: list[tuple[Item, float]],
    history: list[tuple[int, datetime, str, float]],
) -> list[str]:
    """One sentence per chosen item, from one batched look at the model's item relation."""
    if strategy == SIMILAR_RATERS:
        return ["Popular among raters like you"] * len(chosen)
    if strategy == "popularity":
        return [f"Popular: {int(score)} raters" for _, score in chosen]
    assert run is not None
    if run.algorithm in explain.NON_PERSONALISED:
        return ["Popular with raters overall" for _ in chosen]
    evidence = [item.pk for item, score in chosen if score != 0.0]
    because = _because(run, _liked_items(run, history), evidence) if evidence else {}
    n_rated = len({row[0] for row in history})
    general = f"Matches your {n_rated} rating{'s' if n_rated != 1 else ''} ({run.algorithm})"
    return [
        "Popular pick: nothing you rated points to it yet"
        if score == 0.0
        else because.get(item.pk) or general
        for item, score in chosen
    ]


def _liked_items(run: TrainingRun, history: list[tuple[int, datetime, str, float]]) -> list[int]:
    """The items a reason may name, latest first: interactions the run's signal counts, and
    ratings only where they are liked (at least the signal's threshold or, without one, the
    rater's own mean rating), so a low rating never reads as "because you rated"."""
    signal = Signal.from_dict(run.signal)
    ratings = [value for _, _, event, value in history if event == "rating"]
    threshold = signal.positive_threshold
    if threshold is None:
        threshold = float(np.mean(ratings)) if ratings else 0.0
    liked = [
        (when, item_id)
        for item_id, when, event, value in history
        if event in signal.event_weights
        and event != Interaction.EventType.NOT_INTERESTED
        and (event != "rating" or value >= threshold)
    ]
    ordered = dict.fromkeys(
        item_id for _, item_id in sorted(liked, key=lambda r: r[0], reverse=True)
    )
    return list(ordered)[:REASON_HISTORY]


def _because(run: TrainingRun, liked: list[int], targets: list[int]) -> dict[int, str]:
    """ "Because you rated “A” and “B”" per target: the liked items that point most to it."""
    if not liked or not run.artifact:
        return {}
    try:
        loaded = model_cache.loaded_model(run)
    except OSError:  # a list can be served from its snapshot without the file; say less
        logger.warning("run %s: no artifact to explain its list with", run.pk)
        return {}
    relation = model_cache.item_relation(loaded)
    if relation is not None:
        found = explain.contributing_items_many(
            relation,
            loaded.items.indices(str(pk) for pk in liked),
            loaded.items.indices(str(pk) for pk in targets),
        )
        drivers = [[int(key) for key in loaded.items.ids(idx.tolist())] for idx in found]
    else:  # no item-item view of its own (e.g. sequence models): co-occurrence in the data
        liked = liked[:REASON_COOCCURRENCE_HISTORY]  # bounds the rows the query reads
        relation, keys = _cooccurrence([*liked, *targets])
        position = {pk: i for i, pk in enumerate(keys)}
        found = explain.contributing_items_many(
            relation,
            np.array([position[pk] for pk in liked], dtype=np.int64),
            np.array([position[pk] for pk in targets], dtype=np.int64),
        )
        drivers = [[keys[i] for i in idx.tolist()] for idx in found]
    titles = Item.objects.only(*TITLE_FIELDS).in_bulk({d for names in drivers for d in names})
    return {
        pk: explain.because_text([titles[d].display_title for d in names if d in titles])
        for pk, names in zip(targets, drivers, strict=True)
    }


def _cooccurrence(item_pks: list[int]) -> tuple[explain.ItemRelation, list[int]]:
    """Co-occurrence relation over ``item_pks`` from every rater's liked interactions (one
    query): two items dislikes have in common are not related."""
    keys = sorted(set(item_pks))
    rows = np.array(
        list(
            Interaction.objects.filter(liked_condition(), item_id__in=keys).values_list(
                "rater_id", "item_id"
            )
        ),
        dtype=np.int64,
    ).reshape(-1, 2)
    raters = pd.factorize(rows[:, 0])[0].astype(np.int64)
    columns = pd.Index(keys).get_indexer(rows[:, 1])
    matrix = sp.csr_matrix(
        (np.ones(len(rows)), (raters, columns)), shape=(int(raters.max(initial=-1)) + 1, len(keys))
    )
    return explain.CooccurrenceRelation(matrix), keys


def liked_condition() -> Q:
    """Interactions that say "I like it": a rating above the middle of the scale, or any other
    event but "not interested"."""
    middle = (settings.RECSITE_RATING_MIN + settings.RECSITE_RATING_MAX) / 2
    rating = Interaction.EventType.RATING
    return Q(event_type=rating, value__gt=middle) | ~Q(
        event_type__in=[rating, Interaction.EventType.NOT_INTERESTED]
    )
