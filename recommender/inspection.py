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
import scipy.sparse as sp
from django.db.models import Count

from catalog.models import Interaction, Item, Rater
from recommender import cold_start, explain, serving
from recommender.artifacts import LoadedModel
from recommender.models import TrainingRun
from recommender.pipeline import Signal
from recommender.serving import Recommendation

logger = logging.getLogger(__name__)

#: Reasons look at this many of the rater's latest interactions.
REASON_HISTORY = 200


@dataclass(frozen=True)
class ExplainedList:
    """One run's list for one rater (real or synthetic), every item with its reason."""

    run: TrainingRun | None
    items: list[Recommendation]
    strategy: str
    explanation: str


def rater_recommendations(rater: Rater, run: TrainingRun | None, n: int = 10) -> ExplainedList:
    """What ``rater`` gets from ``run`` (as served: precomputed or folded in), with reasons."""
    result = serving.recommend_for_rater(rater, n, run=run)
    if run is None or result.strategy == "popularity" or not run.artifact:
        return ExplainedList(run, result.items, result.strategy, result.explanation)
    history = list(
        Interaction.objects.filter(rater=rater)
        .order_by("-occurred_at", "-id")
        .values_list("item_id", flat=True)[:REASON_HISTORY]
    )
    items = _with_reasons(run, history, result.items)
    return ExplainedList(run, items, result.strategy, result.explanation)


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
    items = [Recommendation(catalog[pk], s, "") for pk, s in pairs if pk in catalog]
    known = int(batch.history.nnz)
    explanation = (
        f"Scored now by run {run.pk} ({run.algorithm}) from {len(history)} "
        f"rating{'s' if len(history) != 1 else ''} ({known} known to the model)."
    )
    items = _with_reasons(run, [pk for pk, _ in reversed(history)], items, loaded)
    return ExplainedList(run, items, "what-if", explanation)


def _with_reasons(
    run: TrainingRun,
    history: list[int],
    items: list[Recommendation],
    loaded: LoadedModel | None = None,
) -> list[Recommendation]:
    reasons = item_reasons(run, history, [r.item.pk for r in items], loaded)
    weak = "No link to the rater's items (score 0): it only fills the list"
    scored = f"Scored by {run.algorithm} from the rater's {len(history)} interactions"
    return [
        Recommendation(
            r.item, r.score, reasons.get(r.item.pk) or (weak if r.score <= 0 else scored)
        )
        for r in items
    ]


def item_reasons(
    run: TrainingRun,
    history: list[int],
    targets: list[int],
    loaded: LoadedModel | None = None,
) -> dict[int, str]:
    """A sentence per recommended item key: which of the ``history`` items led to it ("" when
    none of them points to it)."""
    loaded = loaded or serving.loaded_model(run)
    if loaded.algorithm in explain.NON_PERSONALISED:
        return {pk: "Popular: among the items most raters interacted with" for pk in targets}
    relation = explain.item_relation(loaded.model)
    model = loaded.model
    if relation is not None:
        vocabulary = loaded.items
        history_idx = vocabulary.indices(str(pk) for pk in history)
        target_idx = vocabulary.indices(str(pk) for pk in targets)

        def pk_of(i: int) -> int:
            return int(vocabulary.ids([i])[0])

    else:  # no item-item view of its own: co-occurrence in the current data
        relation, ids = _cooccurrence([*history, *targets])
        model = None
        position = {pk: i for i, pk in enumerate(ids)}
        history_idx = np.array([position.get(pk, -1) for pk in history], dtype=np.int64)
        target_idx = np.array([position.get(pk, -1) for pk in targets], dtype=np.int64)

        def pk_of(i: int) -> int:
            return ids[i]

    drivers = {
        pk: [pk_of(int(i)) for i in explain.explaining_items(model, relation, history_idx, idx)]
        for pk, idx in zip(targets, target_idx.tolist(), strict=True)
        if idx >= 0
    }
    catalog = Item.objects.in_bulk({d for found in drivers.values() for d in found})
    return {
        pk: explain.because_text(
            [catalog[d].display_title for d in drivers.get(pk, []) if d in catalog]
        )
        for pk in targets
    }


def _cooccurrence(item_pks: list[int]) -> tuple[explain.ItemRelation, list[int]]:
    """Co-occurrence relation over ``item_pks`` from every rater's interactions."""
    ids = sorted(set(item_pks))
    rows = pd.DataFrame.from_records(
        list(Interaction.objects.filter(item_id__in=ids).values_list("rater_id", "item_id")),
        columns=["rater_id", "item_id"],
    )
    raters = pd.factorize(rows["rater_id"])[0].astype(np.int64)
    columns = pd.Index(ids).get_indexer(rows["item_id"])
    matrix = sp.csr_matrix(
        (np.ones(len(rows)), (raters, columns)), shape=(int(raters.max(initial=-1)) + 1, len(ids))
    )
    return explain.CooccurrenceRelation(matrix), ids


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
