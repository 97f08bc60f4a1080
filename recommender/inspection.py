"""What the operator dashboard shows about a model: lists with reasons, what-if lists, neighbours.

The seam between the ORM and :mod:`recommender.explain`: it maps item keys to a run's model
indices, asks the model's item relation (or, for models without one, co-occurrence counted in
the database) why an item was recommended or which items go with it, and turns the answer
back into catalog items and sentences.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd
from django.db.models import Count

from catalog.models import Interaction, Item, Rater
from recommender import cold_start, explain, serving
from recommender.artifacts import LoadedModel
from recommender.models import TrainingRun
from recommender.pipeline import Signal
from recommender.reasons import item_reasons
from recommender.serving import Recommendation

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ExplainedList:
    """One run's list for one rater (real or synthetic), every item with its reason."""

    run: TrainingRun | None
    items: list[Recommendation]
    strategy: str
    explanation: str


def rater_recommendations(rater: Rater, run: TrainingRun | None, n: int = 10) -> ExplainedList:
    """What ``rater`` gets from ``run``, exactly as served (precomputed or folded in), with the
    reasons the rater sees."""
    result = serving.recommend_for_rater(rater, n, run=run)
    return ExplainedList(run, result.items, result.strategy, result.explanation)


def history_recommendations(
    history: list[tuple[int, float]], run: TrainingRun | None, n: int = 10
) -> ExplainedList:
    """Score a synthetic rater with ``history`` (item key, rating) on the fly: the what-if panel."""
    if run is None or not run.artifact:
        return ExplainedList(run, [], "none", "No model to score with: activate or pick a run.")
    if not history:
        return ExplainedList(run, [], "none", "Add ratings to see what this model recommends.")
    loaded = serving.loaded_model(run)
    frame = pd.DataFrame(
        {
            "rater_id": 0,
            "item_id": [pk for pk, _ in history],
            "event_type": Interaction.EventType.RATING.value,
            "value": [float(v) for _, v in history],
            "occurred_at": np.arange(len(history)),
        }
    )
    batch = serving._batch(
        loaded, Signal.from_dict(run.signal), np.array([-1]), np.array([0]), frame
    )
    top_idx, top_scores = loaded.model.recommend(batch, n)
    pairs = [
        (int(i), float(s))
        for i, s in zip(loaded.items.ids(top_idx[0]), top_scores[0], strict=True)
        if np.isfinite(s)
    ]
    catalog = Item.objects.in_bulk([pk for pk, _ in pairs])
    chosen = [(catalog[pk], s) for pk, s in pairs if pk in catalog]
    # The synthetic ratings as served reasons read them, in the order they were added.
    rows = [(pk, order, "rating", float(v)) for order, (pk, v) in enumerate(history)]
    reasons = item_reasons("folded-in", run, chosen, rows)
    known = int(batch.history.nnz)
    explanation = (
        f"Scored now by run {run.pk} ({run.algorithm}) from {len(history)} "
        f"rating{'s' if len(history) != 1 else ''} ({known} known to the model)."
    )
    items = [
        Recommendation(item, score, reason)
        for (item, score), reason in zip(chosen, reasons, strict=True)
    ]
    return ExplainedList(run, items, "what-if", explanation)


def similar_items(run: TrainingRun | None, item: Item, n: int = 10) -> ExplainedList:
    """Items most related to ``item`` in ``run``'s model (its own item-item view).

    item-kNN and EASE use their item-item matrices, embedding models the cosine of item
    embeddings; a model with neither (popularity), or an item the model never saw, falls back
    to co-occurrence: the cosine of the sets of raters who interacted with each item.
    """
    if run is not None and run.artifact:
        loaded = serving.loaded_model(run)
        relation = explain.item_relation(loaded.model)
        idx = loaded.items.index_of(str(item.pk))
        if relation is not None and idx >= 0:
            found, strengths = explain.most_similar(relation, idx, n)
            pairs = list(zip((int(pk) for pk in loaded.items.ids(found)), strengths, strict=True))
            how = _relation_words(loaded)
            return ExplainedList(run, _as_items(pairs, how), "model", f"{how} in run {run.pk}.")
    pairs = cooccurring_items(item, n)
    if not pairs:  # nobody has interacted with it yet: its content is all there is
        by_content = cold_start.similar_by_content(item, n)
        if by_content is not None:
            content_run = by_content.run
            words = (
                f"Content: cosine of item vectors from titles and genres in run {content_run.pk}."
            )
            reason = f"Similar title and genres ({content_run.algorithm})"
            return ExplainedList(run, _as_items(by_content.pairs, reason), "content", words)
    reason = "Rated by the same raters"
    words = "Co-occurrence: the cosine of the two items' rater sets, in the current data."
    return ExplainedList(run, _as_items(pairs, reason), "co-occurrence", words)


def _relation_words(loaded: LoadedModel) -> str:
    if getattr(loaded.model, "similarity", None) is not None:
        return f"Item-item similarity of {loaded.algorithm}"
    if getattr(loaded.model, "weights", None) is not None:
        return f"Item-item weights of {loaded.algorithm}"
    return f"Cosine of {loaded.algorithm}'s item embeddings"


def cooccurring_items(item: Item, n: int) -> list[tuple[int, float]]:
    """The ``n`` items whose rater sets overlap most with ``item``'s (cosine of the sets)."""
    raters = Interaction.objects.filter(item=item).values("rater_id")
    source = Interaction.objects.filter(item=item).values("rater_id").distinct().count()
    shared = dict(
        Interaction.objects.filter(rater_id__in=raters)
        .exclude(item=item)
        .values("item_id")
        .annotate(c=Count("rater_id", distinct=True))
        .values_list("item_id", "c")
    )
    if not shared:
        return []
    totals = dict(
        Interaction.objects.filter(item_id__in=list(shared))
        .values("item_id")
        .annotate(c=Count("rater_id", distinct=True))
        .values_list("item_id", "c")
    )
    ids = np.array(sorted(shared), dtype=np.int64)
    scores = explain.cooccurrence_cosine(
        np.array([shared[i] for i in ids]), source, np.array([totals[i] for i in ids])
    )
    order = np.lexsort((ids, -scores))[:n]
    return [(int(ids[i]), float(scores[i])) for i in order]


def _as_items(pairs: list[tuple[int, float]], reason: str) -> list[Recommendation]:
    catalog = Item.objects.in_bulk([pk for pk, _ in pairs])
    return [Recommendation(catalog[pk], float(s), reason) for pk, s in pairs if pk in catalog]
