"""Serving: the active run's recommendations for a rater, with fresh ratings folded in.

The active run's artifact is loaded once per process (keyed by run id). A rater whose
interactions are no newer than the precomputed list gets that list (a lookup); one with newer
interactions, or unknown to the model, is scored on the fly from their *current* interactions;
a rater with none gets the most popular items.

Models that score a known rater from stored user factors (``uses_history`` False: BPR, NCF,
LightGCN, biased MF) would ignore ratings made after training; such a rater is scored as a new
one instead, folded in from their current interactions, so the next list reflects a rating at
once. Every item carries a reason: the rater's liked items that point most to it in the
model's own item relation (or co-occurrence), computed once per list (``reasons.py``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pandas as pd
import scipy.sparse as sp
from django.core.cache import cache
from django.db.models import Count

from catalog import freshness
from catalog.models import Interaction, Item, Rater
from recommender import list_cache
from recommender.artifacts import LoadedModel
from recommender.data import UserBatch
from recommender.model_cache import loaded_model
from recommender.models import RecommendationSnapshot, TrainingRun
from recommender.pipeline import Signal
from recommender.reasons import SIMILAR_RATERS, item_reasons, liked_condition
from recommender.rerank import mmr

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Recommendation:
    item: Item
    score: float
    reason: str


@dataclass(frozen=True)
class RecommendationList:
    items: list[Recommendation]
    strategy: str  # "precomputed", "folded-in", "popularity"
    explanation: str  # the strategy in words, for pages and the API
    run_id: int | None


def active_run() -> TrainingRun | None:
    return TrainingRun.objects.filter(is_active=True).first()


#: The columns of one rater's history rows, as ``_compute_list`` reads them.
HISTORY_ROW = ("item_id", "occurred_at", "event_type", "value")
HistoryRow = tuple[int, datetime, str, float]


def history_frame(rater_ids: np.ndarray) -> pd.DataFrame:
    """The raters' current interactions, oldest first per rater (one query)."""
    rows = Interaction.objects.filter(rater_id__in=[int(r) for r in rater_ids]).values_list(
        "rater_id", *HISTORY_ROW
    )
    frame = pd.DataFrame.from_records(list(rows), columns=["rater_id", *HISTORY_ROW])
    return frame.sort_values(["rater_id", "occurred_at"], kind="stable")


def _one_rater_frame(rater: Rater, history: list[HistoryRow]) -> pd.DataFrame:
    """``history_frame`` of one rater, from the rows already read (no second query)."""
    frame = pd.DataFrame.from_records(history, columns=list(HISTORY_ROW))
    return frame.assign(rater_id=rater.pk).sort_values("occurred_at", kind="stable")


def _batch(
    loaded: LoadedModel,
    signal: Signal,
    user_idx: np.ndarray,
    rater_ids: np.ndarray,
    history: pd.DataFrame,
) -> UserBatch:
    """A UserBatch whose history is each rater's current interactions, mapped to model indices."""
    explicit = loaded.model.predicts_ratings
    frame = history.rename(columns={"rater_id": "user_id"}).assign(
        user_id=lambda f: f["user_id"].astype(str),
        item_id=lambda f: f["item_id"].astype(str),
        timestamp=0,
    )
    signalled = signal.apply(frame, explicit=explicit) if len(frame) else frame
    row_of = {str(r): i for i, r in enumerate(rater_ids)}
    rows = signalled["user_id"].map(row_of).to_numpy(dtype=np.int64)
    cols = loaded.items.indices(signalled["item_id"])
    known = cols >= 0
    matrix = sp.csr_matrix(
        (
            np.ones(int(known.sum()), dtype=np.float32)
            if not explicit
            else signalled["value"].to_numpy(dtype=np.float32)[known],
            (rows[known], cols[known]),
        ),
        shape=(len(rater_ids), len(loaded.items)),
    )
    ordered = frame.assign(col=loaded.items.indices(frame["item_id"]))
    ordered = ordered[ordered["col"] >= 0]
    by_rater = {
        key: group.to_numpy(dtype=np.int64) for key, group in ordered.groupby("user_id")["col"]
    }
    empty = np.empty(0, dtype=np.int64)
    sequences = [by_rater.get(str(r), empty) for r in rater_ids]
    return UserBatch(
        user_idx=np.asarray(user_idx, dtype=np.int64), history=matrix, sequences=sequences
    )


def rater_batch_from_training(
    loaded: LoadedModel,
    user_idx: np.ndarray,
    rater_ids: np.ndarray,
    run: TrainingRun | None = None,
    history: pd.DataFrame | None = None,
) -> UserBatch:
    """A batch of known raters with their current interactions (used by the precompute job).

    As in serving, a rater who interacted after the run read its data is folded in from the
    current interactions by models that would otherwise use the stored user factors.
    """
    signal = Signal.from_dict(run.signal) if run is not None else Signal()
    history = history_frame(rater_ids) if history is None else history
    if run is not None and run.started_at is not None and not loaded.model.uses_history:
        latest = history.groupby("rater_id")["occurred_at"].max()
        newer = set(latest[latest > run.started_at].index.tolist())
        user_idx = np.where([int(r) in newer for r in rater_ids], -1, user_idx)
    return _batch(loaded, signal, user_idx, rater_ids, history)


@dataclass(frozen=True)
class Filters:
    """What a caller asks to leave out or keep (API and pages)."""

    exclude_items: frozenset[int] = frozenset()
    include_genres: frozenset[str] = frozenset()
    exclude_genres: frozenset[str] = frozenset()

    @property
    def is_empty(self) -> bool:
        return not (self.exclude_items or self.include_genres or self.exclude_genres)

    def keeps(self, item: Item) -> bool:
        genres = set(item.genres or [])
        if item.pk in self.exclude_items or genres & self.exclude_genres:
            return False
        return not self.include_genres or bool(genres & self.include_genres)


PRECOMPUTED_N = 50
#: What a served list reads of each item (titles, ids and genres for filters and diversity);
#: descriptions and free attributes are left in the database on the hot path.
LIST_FIELDS = ("id", "external_id", "title", "genres")
NEW_ITEM_REASON = "New in the catalogue: its title and genres match what you liked"


def recommend_for_rater(
    rater: Rater,
    n: int = 10,
    *,
    offset: int = 0,
    run: TrainingRun | None = None,
    filters: Filters | None = None,
    diversity: float | None = None,
) -> RecommendationList:
    """The rater's top items they have not interacted with, best first.

    Uses ``run`` (default: the active run): the precomputed list while it is fresh, otherwise
    scores now with the rater's current interactions folded in; popular items when there is no
    model or no history. ``diversity`` (default: the serving policy's) re-ranks with MMR over
    genres; ``filters`` drop items and genres; ``offset`` pages through the list. Lists of the
    active run come from ``list_cache`` while the rater's and the shared data are unchanged.
    """
    filters = filters or Filters()
    if run is not None or not list_cache.enabled():
        return _compute_list(rater, n, offset, run or active_run(), filters, diversity)
    found = list_cache.lookup(rater.external_id, _request_key(n, offset, filters, diversity))
    return _cached_or_computed(found, rater, n, offset, filters, diversity)


def recommend_for_external_id(
    external_id: str, n: int = 10, *, offset: int = 0, filters: Filters | None = None
) -> tuple[int, RecommendationList]:
    """``recommend_for_rater`` for the rater named ``external_id``, as (rater pk, list): a
    cached list is served without reading the rater's row. Raises ``Rater.DoesNotExist``."""
    filters = filters or Filters()
    if not list_cache.enabled():
        rater = Rater.objects.get(external_id=external_id)
        return rater.pk, recommend_for_rater(rater, n, offset=offset, filters=filters)
    found = list_cache.lookup(external_id, _request_key(n, offset, filters, None))
    if found.payload is not None and found.rater_pk is not None:
        return found.rater_pk, _from_payload(found.payload)
    rater = Rater.objects.get(external_id=external_id)
    return rater.pk, _cached_or_computed(found, rater, n, offset, filters, None)


def _cached_or_computed(
    found: list_cache.Lookup,
    rater: Rater,
    n: int,
    offset: int,
    filters: Filters,
    diversity: float | None,
) -> RecommendationList:
    """The list ``found`` holds, or the active run's list computed now and stored under the
    stamps ``found`` read (one cache lookup per request, hit or miss)."""
    if found.payload is not None:
        return _from_payload(found.payload)
    result = _compute_list(rater, n, offset, active_run(), filters, diversity)
    list_cache.store(found, rater.pk, _to_payload(result))
    return result


def _request_key(
    n: int, offset: int, filters: Filters, diversity: float | None
) -> tuple[object, ...]:
    choices = (filters.exclude_items, filters.include_genres, filters.exclude_genres)
    return (n, offset, diversity, *(tuple(sorted(values)) for values in choices))


def _to_payload(result: RecommendationList) -> tuple[object, ...]:
    """The list as plain values (what the cache keeps): no model instances are pickled."""
    rows = [
        (r.item.pk, r.item.external_id, r.item.title, r.item.genres, r.score, r.reason)
        for r in result.items
    ]
    return (result.strategy, result.explanation, result.run_id, rows)


def _from_payload(payload: tuple[object, ...]) -> RecommendationList:
    strategy, explanation, run_id, rows = payload
    items = [
        Recommendation(
            # As ``.only(*LIST_FIELDS)`` loads it: other fields load on first access.
            Item.from_db("default", LIST_FIELDS, (pk, external_id, title, genres)),
            score,
            reason,
        )
        for pk, external_id, title, genres, score, reason in rows  # type: ignore[attr-defined]
    ]
    return RecommendationList(items, str(strategy), str(explanation), run_id)  # type: ignore[arg-type]


def _compute_list(
    rater: Rater,
    n: int,
    offset: int,
    run: TrainingRun | None,
    filters: Filters,
    diversity: float | None,
) -> RecommendationList:
    diversity = _policy_diversity() if diversity is None else diversity
    wanted = offset + n
    pool = wanted if filters.is_empty and diversity <= 0 else max(3 * wanted, PRECOMPUTED_N)
    history = list(Interaction.objects.filter(rater=rater).values_list(*HISTORY_ROW))
    rated = {row[0] for row in history}
    pairs, strategy, explanation = _candidates(run, rater, rated, history, pool)
    new_items: set[int] = set()
    if run is not None and strategy not in ("popularity", SIMILAR_RATERS):
        from recommender import cold_start  # it builds on this module

        pairs, new_items = cold_start.with_new_items(_popular_last(pairs), rater, run, rated)
        if new_items:
            explanation += " New items the model has not seen are placed by their content."
    items = Item.objects.only(*LIST_FIELDS).in_bulk([pk for pk, _ in pairs])
    kept = [(items[pk], score) for pk, score in pairs if pk in items and filters.keeps(items[pk])]
    if diversity > 0:
        kept = _diversify(kept, wanted, diversity)
    chosen = kept[offset:wanted]
    reasons = [
        NEW_ITEM_REASON if item.pk in new_items else reason
        for (item, _), reason in zip(
            chosen, item_reasons(strategy, run, chosen, history), strict=True
        )
    ]
    return RecommendationList(
        [
            Recommendation(item, score, reason)
            for (item, score), reason in zip(chosen, reasons, strict=True)
        ],
        "popularity" if strategy == SIMILAR_RATERS else strategy,
        explanation,
        run.pk if run else None,
    )


def policy_changed() -> None:
    """The operator saved the serving policy: lists follow it from the next request."""
    cache.delete(_DIVERSITY_KEY)
    freshness.mark_all_changed()


_DIVERSITY_KEY = "recsite:serving-diversity"


def _policy_diversity() -> float:
    """The operator's diversity setting, cached for a few seconds: it is read on every request."""
    from recommender.models import ServingPolicy

    value = cache.get(_DIVERSITY_KEY)
    if value is None:
        value = ServingPolicy.current().diversity
        cache.set(_DIVERSITY_KEY, value, timeout=5)
    return float(value)


def _candidates(
    run: TrainingRun | None,
    rater: Rater,
    rated: set[int],
    history: list[HistoryRow],
    pool: int,
) -> tuple[list[tuple[int, float]], str, str]:
    """(pairs, strategy, explanation) from the rater's current ``history`` rows."""
    latest = max((row[1] for row in history), default=None)
    if not rated and rater.attributes:
        from recommender import cold_start  # it builds on this module

        attribute_list = cold_start.for_new_rater(rater, pool)
        if attribute_list is not None and attribute_list.pairs:
            by = attribute_list.run
            words = (
                f"No ratings yet: popular among raters with attributes like yours "
                f"(run {by.pk}, {by.algorithm})."
            )
            return attribute_list.pairs, SIMILAR_RATERS, words
    if run is None and rated:
        similar = _popular_among_similar(rater, rated, pool)
        if similar:
            words = "No model is active yet: popular among raters who rated what you rated."
            return similar, SIMILAR_RATERS, words
    if run is None:
        return _popular(rated, pool), "popularity", "No model is active yet: popular items."
    if not rated:
        return _popular(rated, pool), "popularity", "No ratings yet: the most popular items."
    snapshot = _fresh_snapshot(run, rater, latest, len(history)) if pool <= PRECOMPUTED_N else None
    if snapshot is not None:
        pairs = [
            (i, s)
            for i, s in zip(snapshot.item_ids, snapshot.scores, strict=True)
            if i not in rated
        ]
        if len(pairs) >= pool or len(pairs) == len(snapshot.item_ids):
            return pairs[:pool], "precomputed", f"Precomputed by run {run.pk} ({run.algorithm})."
    # The model excludes only what its signal counts (e.g. ratings); anything else the rater
    # did with an item (marked it "not interested", viewed it) keeps it out of the list too.
    scored = _score_now(run, rater, pool + len(rated), latest, history)
    return (
        [(i, s) for i, s in scored if i not in rated][:pool],
        "folded-in",
        (f"Scored now by run {run.pk} ({run.algorithm}) with the latest interactions."),
    )


def _fresh_snapshot(
    run: TrainingRun, rater: Rater, latest: datetime | None, size: int
) -> RecommendationSnapshot | None:
    """The precomputed list, unless the rater has interacted since it was computed or has a
    different number of interactions than then: one was removed (its item may come back, its
    pull is gone) or an import added some with older timestamps."""
    snapshot = RecommendationSnapshot.objects.filter(run=run, rater=rater).first()
    if snapshot is None or (latest is not None and latest > snapshot.computed_at):
        return None
    if snapshot.history_size is not None and size != snapshot.history_size:
        return None
    return snapshot


def _score_now(
    run: TrainingRun, rater: Rater, n: int, latest: datetime | None, history: list[HistoryRow]
) -> list[tuple[int, float]]:
    loaded = loaded_model(run)
    user_idx = loaded.users.index_of(str(rater.pk))
    if user_idx >= 0 and not loaded.model.uses_history and _newer_than(run, latest):
        # The stored user factors predate these interactions: fold the current ones in.
        user_idx = -1
    batch = _batch(
        loaded,
        Signal.from_dict(run.signal),
        np.array([user_idx]),
        np.array([rater.pk]),
        _one_rater_frame(rater, history),
    )
    top_idx, top_scores = loaded.model.recommend(batch, n)
    return [
        (int(i), float(s))
        for i, s in zip(loaded.items.ids(top_idx[0]), top_scores[0], strict=True)
        if np.isfinite(s)
    ]


def _newer_than(run: TrainingRun, latest: datetime | None) -> bool:
    """Whether the rater interacted after ``run`` read its training data (or it is unknown
    when that was): the run's ``started_at`` is before the read, so nothing later is in it."""
    return run.started_at is None or (latest is not None and latest > run.started_at)


def _diversify(
    kept: list[tuple[Item, float]], n: int, diversity: float
) -> list[tuple[Item, float]]:
    genres = sorted({g for item, _ in kept for g in (item.genres or [])})
    column = {g: i for i, g in enumerate(genres)}
    features = np.zeros((len(kept), max(len(genres), 1)))
    for row, (item, _) in enumerate(kept):
        for genre in item.genres or []:
            features[row, column[genre]] = 1.0
    scores = np.array([score for _, score in kept], dtype=float)
    return [kept[i] for i in mmr(scores, features, n, diversity)]


def _popular_last(pairs: list[tuple[int, float]]) -> list[tuple[int, float]]:
    """Items the model has no evidence for (score exactly 0, as neighbourhood models give)
    go last, most popular first, so the list never pretends they match the rater's taste."""
    evidence = [(pk, score) for pk, score in pairs if score != 0.0]
    rest = [pk for pk, score in pairs if score == 0.0]
    if not rest:
        return pairs
    counts = dict(
        Interaction.objects.filter(item_id__in=rest)
        .values("item_id")
        .annotate(n=Count("id"))
        .values_list("item_id", "n")
    )
    rest.sort(key=lambda pk: (-counts.get(pk, 0), pk))
    return evidence + [(pk, 0.0) for pk in rest]


def _popular_among_similar(rater: Rater, rated: set[int], n: int) -> list[tuple[int, float]]:
    """Items most liked by raters who liked an item ``rater`` liked (their count as score)."""
    liked = liked_condition()
    mine = Interaction.objects.filter(liked, rater=rater).values("item_id")
    similar = (
        Interaction.objects.filter(liked, item_id__in=mine).exclude(rater=rater).values("rater_id")
    )
    counts = (
        Interaction.objects.filter(liked, rater_id__in=similar)
        .exclude(item_id__in=rated)
        .values("item_id")
        .annotate(n=Count("rater_id", distinct=True))
        .order_by("-n", "item_id")[:n]
    )
    return [(row["item_id"], float(row["n"])) for row in counts]


def _popular(rated: set[int], n: int) -> list[tuple[int, float]]:
    counts = (
        Interaction.objects.exclude(item_id__in=rated)
        .values("item_id")
        .annotate(n=Count("id"))
        .order_by("-n", "item_id")[:n]
    )
    return [(row["item_id"], float(row["n"])) for row in counts]
