"""Cold start in serving: who answers where the active model cannot.

- A rater with no interactions but attributes (age, occupation, …) gets the list of the latest
  attribute model (``side_features``): items popular among raters with similar attributes.
- Items that had no interactions when the active model was trained are invisible to it. The
  latest content model (one that scores items from titles, descriptions and genres, such as
  ``text_cnn``) scores them for the rater, and those that its scores put above items of the
  list take a few places in it.
- An item the active model never saw gets its similar items from the content model's vectors.

The runs used are the latest succeeded ones of those algorithms, whichever run is active, so an
operator turns a strategy on by training such a model once.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp
import torch
from django.core.cache import cache

from catalog.models import Interaction, Item, Rater
from catalog.selectors import attributes_table
from recommender import serving
from recommender.algorithms import ALGORITHMS
from recommender.artifacts import LoadedModel
from recommender.data import UserBatch
from recommender.models import TrainingRun

#: Algorithms that rank for a rater from attributes alone.
ATTRIBUTE_ALGORITHMS = ("side_features",)
#: Algorithms that score any item from its content (``score_content``).
CONTENT_ALGORITHMS = tuple(
    name for name, cls in ALGORITHMS.items() if hasattr(cls, "score_content")
)
#: At most this share of a list goes to new items, and never its first places.
NEW_ITEM_SHARE = 0.2
FIRST_NEW_ITEM_PLACE = 2
_NEW_ITEMS_SECONDS = 30


@dataclass(frozen=True)
class ColdList:
    """Scored items from a cold-start strategy, with the run that produced them."""

    pairs: list[tuple[int, float]]
    run: TrainingRun


def latest_run(algorithms: tuple[str, ...]) -> TrainingRun | None:
    """The newest succeeded run of one of ``algorithms`` that has an artifact."""
    if not algorithms:
        return None
    return (
        TrainingRun.objects.filter(algorithm__in=algorithms, status=TrainingRun.Status.SUCCEEDED)
        .exclude(artifact="")
        .order_by("-finished_at", "-pk")
        .first()
    )


def for_new_rater(rater: Rater, n: int) -> ColdList | None:
    """The attribute model's top ``n`` for a rater with attributes and no interactions."""
    if not rater.attributes:
        return None
    run = latest_run(ATTRIBUTE_ALGORITHMS)
    if run is None:
        return None
    loaded = serving.loaded_model(run)
    batch = UserBatch(
        user_idx=np.array([-1], dtype=np.int64),
        history=sp.csr_matrix((1, len(loaded.items)), dtype=np.float32),
        user_features=attributes_table({str(rater.pk): rater.attributes}),
    )
    top_idx, top_scores = loaded.model.recommend(batch, n)
    pairs = [
        (int(pk), float(score))
        for pk, score in zip(loaded.items.ids(top_idx[0]), top_scores[0], strict=True)
        if np.isfinite(score)
    ]
    return ColdList(pairs, run)


def with_new_items(
    pairs: list[tuple[int, float]], rater: Rater, active: TrainingRun, exclude: set[int]
) -> tuple[list[tuple[int, float]], set[int]]:
    """``pairs`` with the best new items placed where the content model ranks them.

    New items are those the active run does not know. The content model scores the list's
    items and the new ones for the rater; a new item goes before the first list item (from
    place ``FIRST_NEW_ITEM_PLACE`` on) that it outscores, at most ``NEW_ITEM_SHARE`` of the
    list. Returns the merged list and the new items placed in it.
    """
    new_pks = [pk for pk in _unknown_items(active) if pk not in exclude]
    run = latest_run(CONTENT_ALGORITHMS) if new_pks and pairs else None
    if run is None:
        return pairs, set()
    content = serving.loaded_model(run)
    merged = list(pairs)
    merged_scores = list(_content_scores(content, rater, [pk for pk, _ in pairs]))
    new_scores = _content_scores(content, rater, new_pks)
    slots = max(1, int(NEW_ITEM_SHARE * len(pairs)))
    for index in np.argsort(-new_scores, kind="stable")[:slots]:
        score = float(new_scores[index])
        place = next(
            (p for p in range(FIRST_NEW_ITEM_PLACE, len(merged)) if merged_scores[p] < score), None
        )
        if place is None:
            continue
        # The score shown is the one of the item it now precedes, so the list stays ordered.
        merged.insert(place, (new_pks[index], merged[place][1]))
        merged_scores.insert(place, score)
    kept = merged[: len(pairs)]
    return kept, {pk for pk, _ in kept} - {pk for pk, _ in pairs}


def similar_by_content(item: Item, n: int) -> ColdList | None:
    """Items whose content vectors are closest to ``item``'s in the latest content model."""
    run = latest_run(CONTENT_ALGORITHMS)
    if run is None:
        return None
    loaded = serving.loaded_model(run)
    vectors, _ = loaded.model.item_vectors()
    target, _ = loaded.model.content_vectors(_content_frame([item]))
    similarity = torch.nn.functional.cosine_similarity(vectors, target, dim=1).cpu().numpy()
    own = loaded.items.index_of(str(item.pk))
    if own >= 0:
        similarity[own] = -np.inf
    order = np.argsort(-similarity, kind="stable")[:n]
    pks = loaded.items.ids(order)
    return ColdList(
        [(int(pk), float(similarity[i])) for pk, i in zip(pks, order, strict=True)], run
    )


def _unknown_items(active: TrainingRun) -> list[int]:
    """Items the active run's model has no index for (added or first rated after training)."""
    key = f"recsite:new-items:{active.pk}"  # new items show up within _NEW_ITEMS_SECONDS
    found = cache.get(key)
    if found is None:
        known = serving.loaded_model(active).items
        found = [pk for pk in Item.objects.values_list("pk", flat=True) if str(pk) not in known]
        cache.set(key, found, timeout=_NEW_ITEMS_SECONDS)
    return found


def _content_scores(loaded: LoadedModel, rater: Rater, item_pks: list[int]) -> np.ndarray:
    """The content model's scores of ``item_pks`` for ``rater``, float32 (len(item_pks),)."""
    items = Item.objects.in_bulk(item_pks)
    features = _content_frame([items[pk] for pk in item_pks if pk in items])
    scores = loaded.model.score_content(_rater_batch(loaded, rater), features)[0]
    by_pk = dict(zip(features.index, scores, strict=True))
    return np.array([by_pk.get(str(pk), -np.inf) for pk in item_pks], dtype=np.float32)


def _rater_batch(loaded: LoadedModel, rater: Rater) -> UserBatch:
    """The rater as the content model knows them, or folded in from their interactions."""
    columns = loaded.items.indices(
        str(pk) for pk in Interaction.objects.filter(rater=rater).values_list("item_id", flat=True)
    )
    columns = columns[columns >= 0]
    history = sp.csr_matrix(
        (
            np.ones(len(columns), dtype=np.float32),
            (np.zeros(len(columns), dtype=np.int64), columns),
        ),
        shape=(1, len(loaded.items)),
    )
    user_idx = np.array([loaded.users.index_of(str(rater.pk))], dtype=np.int64)
    return UserBatch(user_idx=user_idx, history=history)


def _content_frame(items: list[Item]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "title": [item.title for item in items],
            "description": [item.description for item in items],
            "genres": [list(item.genres or []) for item in items],
        },
        index=[str(item.pk) for item in items],
    )
